"""CalendarPage helpers: window filtering (overlap) and merging chunks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.domain.appointments import (
    Appointment,
    CalendarPage,
    RejectedEvent,
    StaffEvent,
    StaffKind,
)
from pims_sync.errors import InvalidInputError

T0 = datetime(2026, 1, 22, 17, 0, tzinfo=UTC)


def appointment(appointment_id: str, hours: int) -> Appointment:
    start = T0 + timedelta(hours=hours)
    return Appointment(
        appointment_id=appointment_id, start=start, end=start + timedelta(minutes=15)
    )


def staff(event_id: str, kind: StaffKind, hours: int, length: int = 1) -> StaffEvent:
    start = T0 + timedelta(hours=hours)
    return StaffEvent(event_id, kind, start, start + timedelta(hours=length), resource_id="9")


def test_overlapping_keeps_only_what_meets_the_window() -> None:
    shift = staff("r", StaffKind.ROSTER, -2, 10)
    page = CalendarPage(
        (appointment("a", -1), appointment("b", 0), appointment("c", 2)),
        staff=(staff("x", StaffKind.BLOCK, -3), shift, staff("y", StaffKind.BLOCK, 1)),
        staff_unreadable=1,
    )
    kept = page.overlapping(T0, T0 + timedelta(hours=2))
    assert [a.appointment_id for a in kept.appointments] == ["b"]
    assert [e.event_id for e in kept.staff] == ["r", "y"]
    assert (kept.blocks, kept.rosters, kept.staff_unreadable) == (1, 1, 1)


def test_a_stay_that_began_days_before_overlaps_the_window() -> None:
    stay = Appointment(appointment_id="s", start=T0 - timedelta(days=3), end=T0 + timedelta(days=1))
    ended = Appointment(appointment_id="e", start=T0 - timedelta(days=3), end=T0)
    page = CalendarPage((stay, ended), outside_window=2, coerced=5)
    kept = page.overlapping(T0, T0 + timedelta(hours=2))
    assert [a.appointment_id for a in kept.appointments] == ["s"]  # [start, end): "e" ended
    assert (kept.outside_window, kept.coerced) == (2, 5)


def test_merged_keeps_each_event_once_and_adds_counts() -> None:
    block, roster = staff("7", StaffKind.BLOCK, 0), staff("7", StaffKind.ROSTER, 0, 8)
    first = CalendarPage((appointment("a", 0), appointment("b", 1)), (block,), staff_unreadable=1)
    second = CalendarPage((appointment("b", 1), appointment("c", 2)), (block, roster))
    merged = first.merged(second)
    assert [a.appointment_id for a in merged.appointments] == ["a", "b", "c"]
    assert [e.key for e in merged.staff] == [block.key, roster.key]  # same id, two kinds
    assert (merged.blocks, merged.rosters, merged.staff_unreadable) == (1, 1, 1)


def test_naive_times_are_refused() -> None:
    with pytest.raises(InvalidInputError):
        Appointment(appointment_id="x", start=datetime(2026, 1, 1), end=datetime(2026, 1, 2))  # noqa: DTZ001


def test_rejected_events_follow_the_window_when_their_start_is_known() -> None:
    known = RejectedEvent(0, "a", "bad", start=T0, end=T0 + timedelta(minutes=15))
    unknown = RejectedEvent(1, None, "bad")
    page = CalendarPage(rejected=(known, unknown))
    later = page.overlapping(T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert later.rejected == (unknown,)
    assert page.overlapping(T0, T0 + timedelta(hours=1)).rejected == (known, unknown)
    before = page.overlapping(T0 + timedelta(minutes=10), T0 + timedelta(hours=1))
    assert before.rejected == (known, unknown)  # it began before and reaches into it


def test_merged_adds_the_tolerance_counters() -> None:
    merged = CalendarPage(outside_window=1, coerced=2).merged(
        CalendarPage(outside_window=3, coerced=4)
    )
    assert (merged.outside_window, merged.coerced) == (4, 6)


def test_merged_keeps_a_rejected_id_once_and_every_unidentified_one() -> None:
    first = CalendarPage(rejected=(RejectedEvent(0, "a", "bad"), RejectedEvent(1, None, "x")))
    second = CalendarPage(rejected=(RejectedEvent(0, "a", "bad"), RejectedEvent(2, None, "y")))
    merged = first.merged(second)
    assert [(r.index, r.appointment_id) for r in merged.rejected] == [
        (0, "a"),
        (1, None),
        (2, None),
    ]
    assert merged.listed == 3
