"""Finding the appointment a create made: one new match, none, or cannot tell."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import Appointment, CalendarPage, Patient, RejectedEvent
from pims_sync.domain.read_back import Target, calendar_ids, find_created

NINE = datetime(2026, 6, 2, 16, 0, tzinfo=UTC)
TARGET = Target(patient_id="48290", start=NINE, resource_id="7")


def visit(
    appointment_id: str,
    *,
    patient: str = "48290",
    start: datetime = NINE,
    room: str = "7",
    status: str | None = "not arrived",
) -> Appointment:
    return Appointment(
        appointment_id=appointment_id,
        start=start,
        end=start + timedelta(minutes=15),
        patient=Patient(id=patient),
        room_id=room,
        status=status,
    )


BEFORE = CalendarPage(appointments=(visit("100", patient="1"), visit("101", room="8")))


def after(*extra: Appointment, rejected: tuple[RejectedEvent, ...] = ()) -> CalendarPage:
    return CalendarPage(appointments=BEFORE.appointments + extra, rejected=rejected)


def test_the_one_new_appointment_of_the_patient_start_and_column_is_found() -> None:
    made = visit("102")
    found = find_created(calendar_ids(BEFORE), after(made), TARGET)
    assert (found.verdict, found.found) == (True, made)


def test_the_same_instant_in_the_clinic_zone_still_matches() -> None:
    made = visit("102", start=NINE.astimezone(ZoneInfo("America/Los_Angeles")))
    assert find_created(calendar_ids(BEFORE), after(made), TARGET).verdict is True


def test_nothing_new_for_the_target_is_absent() -> None:
    others = (
        visit("102", patient="2"),
        visit("103", start=NINE + timedelta(minutes=15)),
        visit("104", room="8"),
    )
    found = find_created(calendar_ids(BEFORE), after(*others), TARGET)
    assert (found.verdict, found.found, found.candidates) == (False, None, 0)
    assert "no new appointment" in found.describe()


def test_a_new_appointment_cancelled_since_is_still_the_one_made() -> None:
    cancelled = visit("102", status="Cancelled")
    found = find_created(calendar_ids(BEFORE), after(cancelled), TARGET)
    assert (found.verdict, found.found) == (True, cancelled)


def test_an_old_appointment_of_the_target_is_not_the_new_one() -> None:
    old = CalendarPage(appointments=(visit("99"),))
    assert find_created(calendar_ids(old), old, TARGET).verdict is False


def test_two_new_matches_cannot_be_told_apart() -> None:
    found = find_created(calendar_ids(BEFORE), after(visit("102"), visit("103")), TARGET)
    assert (found.verdict, found.found, found.candidates) == (None, None, 2)
    assert "2 new appointments" in found.describe()


def test_a_new_unreadable_event_at_that_start_may_be_ours() -> None:
    unreadable = (RejectedEvent(index=3, appointment_id="106", reason="no end", start=NINE),)
    found = find_created(calendar_ids(BEFORE), after(visit("102"), rejected=unreadable), TARGET)
    assert found.verdict is None
    assert "could not be read" in found.describe()
    assert find_created(calendar_ids(BEFORE), after(rejected=unreadable), TARGET).verdict is None


def test_unreadable_events_known_before_or_elsewhere_in_the_day_do_not_count() -> None:
    old_unreadable = RejectedEvent(index=1, appointment_id="90", reason="no end", start=NINE)
    before = CalendarPage(appointments=BEFORE.appointments, rejected=(old_unreadable,))
    later = RejectedEvent(index=2, appointment_id=None, reason="x", start=NINE + timedelta(hours=2))
    page = after(visit("102"), rejected=(old_unreadable, later))
    assert find_created(calendar_ids(before), page, TARGET).verdict is True


def test_any_column_when_none_was_asked() -> None:
    anywhere = Target(patient_id="48290", start=NINE)
    assert find_created(calendar_ids(BEFORE), after(visit("102", room="9")), anywhere).verdict
