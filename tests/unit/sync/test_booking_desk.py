"""The booking desk over the memory stores and the fake PIMS: exactly once, confirmed."""

from __future__ import annotations

import asyncio
from datetime import datetime, time, timedelta

import pytest

from pims_sync.domain.appointments import Appointment, Patient
from pims_sync.domain.booking_orders import CancelOrder, RescheduleOrder
from pims_sync.domain.cases import external_id
from pims_sync.domain.mirror import EntryKind
from pims_sync.domain.outbox import EventType
from pims_sync.domain.pims_writes import NewClient, NewPatient, PimsRef
from pims_sync.domain.write_requests import WriteRoute, WriteState
from pims_sync.errors import (
    AppointmentNotFoundError,
    IdempotencyKeyReusedError,
    PimsUnavailableError,
    PimsWriteNotSentError,
    PimsWriteUnconfirmedError,
    SlotUnavailableError,
    WriteInProgressError,
)
from pims_sync.sync.availability import Ask, HoldAsk
from tests.unit.sync.booking_world import CLINIC, LA, PATIENTS, TUESDAY, World, order, world

TEN = datetime.combine(TUESDAY, time(10), tzinfo=LA)


@pytest.fixture
def w() -> World:
    return world()


async def stored(w: World, key: str) -> WriteState:
    request = await w.requests.get(clinic_id=CLINIC.id, key=key)
    assert request is not None
    return request.state


async def event_types(w: World) -> list[EventType]:
    """The booking events written, in order."""
    events = await w.events.after(clinic_id=CLINIC.id, after_seq=0, limit=100)
    return [e.type for e in events if e.type.value.startswith("booking.")]


def mirror_ids(w: World) -> set[str]:
    rows = w.mirror.rows.get(CLINIC.id, {})
    return {
        key[0] for key, row in rows.items() if row.stored.live and key[1] is EntryKind.APPOINTMENT
    }


async def test_a_create_is_sent_once_read_back_and_shown_at_once(w: World) -> None:
    outcome = await w.desk.create(CLINIC, order(), key="k1")

    [made] = w.pims.created
    assert outcome.appointment.appointment_id == made
    assert (outcome.appointment.start, outcome.appointment.resource_id) == (TEN, "7")
    assert outcome.appointment.patient_id == PATIENTS[0]
    assert mirror_ids(w) == {made}
    case = (await w.cases.get_many(clinic_id=CLINIC.id, external_ids=[external_id(made)]))[
        external_id(made)
    ]
    assert case.scheduled_at == TEN
    assert await stored(w, "k1") is WriteState.SUCCEEDED
    assert EventType.BOOKING_CREATED in await event_types(w)
    assert not [h for h in w.holds.holds.values() if h.released_at is None]  # consumed


async def test_a_repeat_gets_the_stored_answer_without_calling_the_pims(w: World) -> None:
    first = await w.desk.create(CLINIC, order(), key="k1")
    calls = dict(w.pims.calls)

    again = await w.desk.create(CLINIC, order(), key="k1")

    assert again.replayed
    assert again.appointment == first.appointment
    assert dict(w.pims.calls) == calls
    with pytest.raises(IdempotencyKeyReusedError):
        await w.desk.create(CLINIC, order(11), key="k1")


async def test_a_lost_answer_is_found_by_reading_back_and_never_booked_twice(w: World) -> None:
    w.pims.lose_next_answer("create")

    outcomes = [await w.desk.create(CLINIC, order(), key="k1") for _ in range(5)]

    assert len(w.pims.live_bookings()) == 1
    assert w.pims.calls["create"] == 1
    assert {o.appointment.appointment_id for o in outcomes} == set(w.pims.created)


async def test_unconfirmed_then_resolved_by_the_repeat(w: World) -> None:
    w.pims.lose_next_answer("create")
    book = w.pims.book

    def book_then_lose_the_calendar(*args: object, **kwargs: object) -> str:
        w.pims.fail_next("calendar", PimsUnavailableError("calendar down", endpoint="calendar"))
        return book(*args, **kwargs)  # type: ignore[arg-type]

    w.pims.book = book_then_lose_the_calendar  # type: ignore[method-assign]
    with pytest.raises(PimsWriteUnconfirmedError, match="same Idempotency-Key"):
        await w.desk.create(CLINIC, order(), key="k1")
    assert await stored(w, "k1") is WriteState.UNKNOWN
    w.pims.book = book  # type: ignore[method-assign]

    outcome = await w.desk.create(CLINIC, order(), key="k1")

    assert not outcome.replayed
    assert [outcome.appointment.appointment_id] == w.pims.created
    assert w.pims.calls["create"] == 1
    assert await event_types(w) == [EventType.BOOKING_FAILED, EventType.BOOKING_CREATED]


async def test_a_crashed_request_is_in_progress_then_taken_over_by_reading_back(w: World) -> None:
    book = w.pims.book

    def book_then_crash(*args: object, **kwargs: object) -> str:
        book(*args, **kwargs)  # type: ignore[arg-type]
        raise asyncio.CancelledError  # the process died with the create sent

    w.pims.book = book_then_crash  # type: ignore[method-assign]
    with pytest.raises(asyncio.CancelledError):
        await w.desk.create(CLINIC, order(), key="k1")
    w.pims.book = book  # type: ignore[method-assign]
    assert await stored(w, "k1") is WriteState.PENDING

    with pytest.raises(WriteInProgressError):
        await w.desk.create(CLINIC, order(), key="k1")
    w.clock.at += timedelta(minutes=3)  # past the lease
    outcome = await w.desk.create(CLINIC, order(), key="k1")

    assert [outcome.appointment.appointment_id] == w.pims.created
    assert w.pims.calls["create"] == 1


async def test_a_write_that_never_landed_is_sent_again_by_the_repeat(w: World) -> None:
    w.pims.fail_next("create", PimsWriteNotSentError("no connection", endpoint="create"))
    with pytest.raises(PimsWriteNotSentError):
        await w.desk.create(CLINIC, order(), key="k1")
    assert await stored(w, "k1") is WriteState.FAILED

    outcome = await w.desk.create(CLINIC, order(), key="k1")

    assert [outcome.appointment.appointment_id] == w.pims.created


async def test_a_slot_taken_in_the_pims_is_refused_with_alternatives_and_replayed(w: World) -> None:
    other = Appointment(
        appointment_id="555",
        start=TEN,
        end=TEN + timedelta(minutes=30),
        status="Scheduled",
        patient=Patient(id=PATIENTS[1]),
        room_id="7",
    )
    w.pims.appointments[other.appointment_id] = other

    with pytest.raises(SlotUnavailableError) as refused:
        await w.desk.create(CLINIC, order(), key="k1")

    assert len(refused.value.alternatives) == 3
    assert all(slot.start >= TEN for slot in refused.value.alternatives)  # type: ignore[attr-defined]
    assert w.pims.created == []
    assert await stored(w, "k1") is WriteState.FAILED
    assert not [h for h in w.holds.holds.values() if h.released_at is None]
    calls = dict(w.pims.calls)
    with pytest.raises(SlotUnavailableError) as again:
        await w.desk.create(CLINIC, order(), key="k1")
    assert len(again.value.alternatives) == 3
    assert dict(w.pims.calls) == calls


async def test_of_twenty_creates_for_one_slot_one_books(w: World) -> None:
    results = await asyncio.gather(
        *(w.desk.create(CLINIC, order(), key=f"k{n}") for n in range(20)),
        return_exceptions=True,
    )

    refused = [r for r in results if isinstance(r, SlotUnavailableError)]
    assert len(refused) == 19
    assert all(len(r.alternatives) == 3 for r in refused)
    assert len(w.pims.live_bookings()) == 1


async def test_a_hold_named_by_the_booking_is_checked_and_consumed(w: World) -> None:
    availability = w.desk.tools.availability
    hold = await availability.hold(CLINIC, HoldAsk(TEN, Ask(15, resource_ids=("8",))))

    outcome = await w.desk.create(CLINIC, order(room=None, hold_id=hold.id), key="k1")

    assert outcome.appointment.resource_id == "8"
    assert w.holds.holds[hold.id].released_at is not None


async def test_a_new_client_and_patient_are_registered_once(w: World) -> None:
    new = order(
        patient=None,
        new_client=NewClient("SAM", "RIVERA", mobile_phone="9255550123"),
        new_patient=NewPatient("BROWNIE", species=PimsRef(None, "Dog")),
    )
    w.pims.lose_next_answer("create")

    first = await w.desk.create(CLINIC, new, key="k1")
    await w.desk.create(CLINIC, new, key="k1")

    assert (w.pims.calls["create-client"], w.pims.calls["create-patient"]) == (1, 1)
    patient = w.pims.patients[str(first.appointment.patient_id)]
    assert patient.name == "BROWNIE"


async def test_cancel_is_confirmed_and_shown(w: World) -> None:
    made = (await w.desk.create(CLINIC, order(), key="k1")).appointment.appointment_id

    outcome = await w.desk.cancel(CLINIC, CancelOrder(made), key=None)

    assert outcome.appointment.status == "Cancelled"
    assert w.pims.live_bookings() == []
    assert mirror_ids(w) == set()
    assert (await event_types(w))[-1] is EventType.BOOKING_CANCELLED
    with pytest.raises(AppointmentNotFoundError):
        await w.desk.cancel(CLINIC, CancelOrder("4242"), key=None)


async def test_reschedule_books_first_and_a_failed_cancel_is_finished_by_the_repeat(
    w: World,
) -> None:
    old = (await w.desk.create(CLINIC, order(), key="k1")).appointment.appointment_id
    move = RescheduleOrder(old, order(14, patient=None))
    w.pims.fail_next("cancel", PimsWriteNotSentError("no connection", endpoint="cancel"))

    partial = await w.desk.reschedule(CLINIC, move, key="r1")

    assert partial.old_cancelled is False
    assert "still booked" in (partial.message or "")
    booked = {a.appointment_id for a in w.pims.live_bookings()}
    assert booked == {old, partial.appointment.appointment_id}  # both there, never none

    done = await w.desk.reschedule(CLINIC, move, key="r1")

    assert done.old_cancelled is True
    assert done.appointment == partial.appointment
    assert {a.appointment_id for a in w.pims.live_bookings()} == {done.appointment.appointment_id}
    assert w.pims.calls["create"] == 2  # the first create and the reschedule's, once
    assert (await w.desk.reschedule(CLINIC, move, key="r1")).replayed
    kinds = await event_types(w)
    assert kinds.count(EventType.BOOKING_RESCHEDULED) == 2


async def test_requests_are_routes_of_their_own(w: World) -> None:
    await w.desk.create(CLINIC, order(), key="k1")
    request = await w.requests.get(clinic_id=CLINIC.id, key="k1")
    assert request is not None
    assert request.route is WriteRoute.CREATE


async def test_a_reschedule_left_unknown_is_resolved_even_if_the_old_one_was_cancelled(
    w: World,
) -> None:
    old = (await w.desk.create(CLINIC, order(), key="k1")).appointment.appointment_id
    book = w.pims.book

    def book_then_lose_the_calendar(*args: object, **kwargs: object) -> str:
        w.pims.fail_next("calendar", PimsUnavailableError("calendar down", endpoint="calendar"))
        return book(*args, **kwargs)  # type: ignore[arg-type]

    w.pims.book = book_then_lose_the_calendar  # type: ignore[method-assign]
    move = RescheduleOrder(old, order(14, patient=None))
    with pytest.raises(PimsWriteUnconfirmedError):
        await w.desk.reschedule(CLINIC, move, key="r1")
    w.pims.book = book  # type: ignore[method-assign]
    await w.desk.cancel(CLINIC, CancelOrder(old), key=None)  # someone cancels the old one
    w.clock.at += timedelta(minutes=3)

    done = await w.desk.reschedule(CLINIC, move, key="r1")

    assert done.old_cancelled is True
    assert [a.appointment_id for a in w.pims.live_bookings()] == [done.appointment.appointment_id]
    assert len(w.pims.created) == 2  # the old one and the new one, never a third
