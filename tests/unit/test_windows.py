"""Date windows: chunks, instants across DST, today in the clinic's zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from pims_sync.sync.windows import DateWindow, clinic_today

LA = ZoneInfo("America/Los_Angeles")


def test_chunks_cover_the_window_in_31_day_pieces() -> None:
    window = DateWindow(date(2026, 1, 1), date(2026, 3, 15))
    chunks = list(window.chunks())
    assert [c.days for c in chunks] == [31, 31, 12]
    assert chunks[0].first == window.first
    assert chunks[-1].last == window.last
    for before, after in pairwise(chunks):
        assert after.first == before.last + timedelta(days=1)


def test_instants_are_true_instants_across_dst() -> None:
    # 2026-03-08 is the spring-forward day in Los Angeles: it lasts 23 hours.
    window = DateWindow(date(2026, 3, 8), date(2026, 3, 8))
    start, end = window.start_instant(LA), window.end_instant(LA)
    assert start.astimezone(UTC) == datetime(2026, 3, 8, 8, tzinfo=UTC)
    assert end - start == timedelta(hours=23)


def test_clinic_today_differs_from_utc_in_the_evening() -> None:
    evening_in_la = datetime(2026, 1, 23, 3, 15, tzinfo=UTC)
    assert clinic_today(evening_in_la, LA) == date(2026, 1, 22)


def test_a_window_counts_both_ends_and_never_runs_backwards() -> None:
    window = DateWindow(date(2026, 1, 15), date(2026, 1, 29))
    assert window.days == 15
    with pytest.raises(ValueError, match="before it starts"):
        DateWindow(date(2026, 1, 2), date(2026, 1, 1))
