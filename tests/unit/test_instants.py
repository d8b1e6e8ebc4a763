"""The one aware-datetime helper and the one ISO formatter (domain/instants.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from pims_sync.domain.instants import assume_utc, iso, iso_or_none, utc

PACIFIC = timezone(timedelta(hours=-8))


def test_utc_keeps_the_instant_and_refuses_a_naive_datetime() -> None:
    assert utc(datetime(2026, 1, 22, 1, 30, tzinfo=PACIFIC)) == datetime(
        2026, 1, 22, 9, 30, tzinfo=UTC
    )
    assert utc(datetime(2026, 1, 22, 1, 30, tzinfo=PACIFIC)).tzinfo is UTC
    with pytest.raises(ValueError, match="timezone-aware"):
        utc(datetime(2026, 1, 22, 1, 30))  # noqa: DTZ001


def test_assume_utc_reads_a_naive_datetime_as_utc() -> None:
    assert assume_utc(datetime(2026, 1, 22, 1, 30)) == datetime(2026, 1, 22, 1, 30, tzinfo=UTC)  # noqa: DTZ001
    assert assume_utc(datetime(2026, 1, 22, 1, 30, tzinfo=PACIFIC)).hour == 9


def test_iso_is_utc_with_milliseconds_and_z() -> None:
    moment = datetime(2026, 1, 22, 1, 30, 5, 123456, tzinfo=PACIFIC)
    assert iso(moment) == "2026-01-22T09:30:05.123Z"
    assert iso(datetime(2026, 1, 22, 6, tzinfo=UTC)) == "2026-01-22T06:00:00.000Z"
    assert (iso_or_none(None), iso_or_none(moment)) == (None, "2026-01-22T09:30:05.123Z")
    with pytest.raises(ValueError, match="timezone-aware"):
        iso(datetime(2026, 1, 22))  # noqa: DTZ001
