"""CalendarPage helpers: window filtering and merging chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.domain.appointments import Appointment, CalendarPage
from pims_sync.errors import InvalidInputError

T0 = datetime(2026, 1, 22, 17, 0, tzinfo=UTC)


def appointment(appointment_id: str, hours: int) -> Appointment:
    start = T0 + timedelta(hours=hours)
    return Appointment(
        appointment_id=appointment_id, start=start, end=start + timedelta(minutes=15)
    )


def test_starting_within_keeps_only_the_window() -> None:
    page = CalendarPage((appointment("a", -1), appointment("b", 0), appointment("c", 2)), 1, 2)
    kept = page.starting_within(T0, T0 + timedelta(hours=2))
    assert [a.appointment_id for a in kept.appointments] == ["b"]
    assert (kept.blocks_dropped, kept.rosters_dropped) == (1, 2)


def test_merged_keeps_each_appointment_once_and_adds_counts() -> None:
    first = CalendarPage((appointment("a", 0), appointment("b", 1)), 1, 0)
    second = CalendarPage((appointment("b", 1), appointment("c", 2)), 2, 1)
    merged = first.merged(second)
    assert [a.appointment_id for a in merged.appointments] == ["a", "b", "c"]
    assert (merged.blocks_dropped, merged.rosters_dropped) == (3, 1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        Appointment(appointment_id="x", start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))  # noqa: DTZ001
