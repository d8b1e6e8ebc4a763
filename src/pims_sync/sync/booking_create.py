"""Create: book one visit in IDEXX once, and answer only what its calendar shows afterwards.

The steps (docs/booking.md#create): the patient (a new client and patient registered
first, each id recorded as soon as IDEXX gives it); a hold on the slot (the caller's
`holdId`, or one of our own: of many creates for one slot exactly one gets it); a fresh
read of the day, written to the mirror, and the slot checked again on it; the "before"
recorded; the create sent; the day read back and the one new appointment of the patient,
start and column found. A request that meets a create already sent reads back first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pims_sync.domain.booking_orders import Booked, BookingOrder
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.holds import Hold, HoldState
from pims_sync.domain.instants import utc
from pims_sync.domain.pims_writes import AppointmentRequest, AppointmentView, PimsClient
from pims_sync.domain.read_back import Target, calendar_ids, find_created
from pims_sync.errors import (
    HoldNotFoundError,
    InvalidInputError,
    PimsError,
    PimsSlotTakenError,
    PimsWriteNotSentError,
    PimsWriteRefusedError,
    PimsWriteUnconfirmedError,
    SlotUnavailableError,
)
from pims_sync.ports.provider import PimsWriteSession
from pims_sync.sync.availability import Ask, AvailabilityDesk, HoldAsk
from pims_sync.sync.booking_reflect import DayRead, Reflection, read_day
from pims_sync.sync.exactly_once import WriteRun

# Our own hold lives long enough for the fresh read, the create and the read-back.
HOLD_SECONDS = 300
HOLD_REFERENCE = "booking write-back"
SENT, BOOKED = "sent", "booked"
UNCONFIRMED = (
    "The booking was sent to IDEXX but could not be confirmed: {why}. Repeat the request "
    "with the same Idempotency-Key: it reads IDEXX back first and never books twice."
)


@dataclass(frozen=True, slots=True)
class BookingTools:
    """What every booking write uses beside its session."""

    availability: AvailabilityDesk
    reflection: Reflection
    now: Callable[[], datetime]


@dataclass(slots=True)
class Booking:
    """One write request at work: the clinic, its session, its progress, the tools."""

    clinic: Clinic
    session: PimsWriteSession
    run: WriteRun
    tools: BookingTools
    _view: AppointmentView | None = None

    async def view(self) -> AppointmentView:
        """The calendar's types and rooms (read from IDEXX once per request)."""
        if self._view is None:
            self._view = await self.session.appointment_view()
        return self._view

    async def show(self, read: DayRead, *appointment_ids: str) -> None:
        """Write a read day to the mirror (and the touched appointments to their cases)."""
        await self.tools.reflection.show(
            self.clinic, read, appointment_ids=appointment_ids, marker=f"booking:{self.run.key}"
        )

    async def read(self, start: datetime) -> DayRead:
        """The clinic day of `start`, fresh from IDEXX."""
        day = start.astimezone(self.clinic.zone).date()
        return await read_day(self.session, self.clinic, day, self.tools.now())


async def book(ctx: Booking, order: BookingOrder) -> Booked:
    """The confirmed appointment of the order (resuming a sent create by reading back)."""
    booked = ctx.run.progress.get(BOOKED)
    if booked is not None:
        return Booked.of_document(booked)
    sent = ctx.run.progress.get(SENT)
    if sent is not None:
        found = await _read_back(ctx, sent, answered=False)
        if found is not None:
            return found
    patient_id, client_id = await _patient(ctx, order)
    ask, hold = await _slot(ctx, order)
    before = await _check_fresh(ctx, ask, hold)
    return await _send(ctx, order, (patient_id, client_id), (ask, hold), before)


async def _patient(ctx: Booking, order: BookingOrder) -> tuple[str, str | None]:
    """The existing patient, or the new client and patient (each recorded once made)."""
    if order.new_client is None or order.new_patient is None:
        if order.patient_id is None:
            raise InvalidInputError("patientId is required for existing clients")
        return order.patient_id, order.client_id
    client_id = ctx.run.progress.get("clientId")
    if client_id is None:
        client = await ctx.session.create_client(order.new_client)
        client_id = client.id
        await ctx.run.note(clientId=client_id)
    patient_id = ctx.run.progress.get("patientId")
    if patient_id is None:
        new = order.new_client
        owner = PimsClient(
            id=client_id,
            first_name=new.first_name,
            last_name=new.last_name,
            mobile_phone=new.mobile_phone,
            email=new.email,
        )
        patient_id = (await ctx.session.create_patient(order.new_patient, owner)).id
        await ctx.run.note(patientId=patient_id)
    return patient_id, client_id


async def _visit(ctx: Booking, order: BookingOrder) -> timedelta:
    """The visit's length: to the given end, else the type's (the clinic's rules), else one slot."""
    zone = ctx.clinic.zone
    if order.end_time is not None:
        return order.end(zone, timedelta(0)) - order.start(zone)
    type_name = None
    if order.type_id is not None:
        kind = (await ctx.view()).type(order.type_id)
        if kind is None:
            raise InvalidInputError(
                f"appointmentTypeId {order.type_id} is not one of the clinic's appointment types"
            )
        type_name = kind.name
    rules = (await ctx.tools.availability.booking.get(ctx.clinic.id)).rules
    return rules.visit_length(type_name)


async def _slot(ctx: Booking, order: BookingOrder) -> tuple[Ask, Hold]:
    """The visit's ask, and the hold that keeps its slot: the caller's, or ours."""
    start = order.start(ctx.clinic.zone)
    minutes = round((await _visit(ctx, order)).total_seconds() / 60)
    columns = (order.room_id,) if order.room_id else await _columns(ctx)
    ask = Ask(duration_minutes=minutes, resource_ids=columns)
    hold_id = order.hold_id or _own_hold_id(ctx.run.progress)
    if hold_id is not None:
        named = await _live_hold(ctx, hold_id, start, minutes, order)
        if named is not None:
            return ask, named
    wanted = HoldAsk(start, ask, ttl_seconds=HOLD_SECONDS, reference=HOLD_REFERENCE)
    hold = await ctx.tools.availability.hold(ctx.clinic, wanted)
    await ctx.run.note(ownHold=str(hold.id))
    return ask, hold


async def _columns(ctx: Booking) -> tuple[str, ...]:
    """Where a visit with no room asked may go: the rules' columns, else IDEXX's rooms."""
    rules = (await ctx.tools.availability.booking.get(ctx.clinic.id)).rules
    if rules.bookable_resource_ids:
        return ()  # the rules name them
    return tuple(room.id for room in (await ctx.view()).rooms)


def _own_hold_id(progress: Mapping[str, Any]) -> UUID | None:
    own = progress.get("ownHold")
    return None if own is None else UUID(own)


async def _live_hold(
    ctx: Booking, hold_id: UUID, start: datetime, minutes: int, order: BookingOrder
) -> Hold | None:
    """A hold for this slot if it is still live (None: it lapsed, hold the slot anew)."""
    hold = await ctx.tools.availability.holds.get(clinic_id=ctx.clinic.id, hold_id=hold_id)
    if hold is None:
        raise HoldNotFoundError(f"Hold not found: {hold_id}")
    if hold.state(utc(ctx.tools.now())) is not HoldState.LIVE:
        return None
    fits = utc(hold.start) == utc(start) and utc(hold.end) >= utc(start) + timedelta(
        minutes=minutes
    )
    if not fits or (order.room_id is not None and hold.resource_id != order.room_id):
        raise InvalidInputError(
            f"hold {hold_id} keeps {hold.start.astimezone(ctx.clinic.zone):%Y-%m-%d %H:%M} to "
            f"{hold.end.astimezone(ctx.clinic.zone):%H:%M} on column {hold.resource_id}, "
            "not this booking's slot"
        )
    return hold


async def _check_fresh(ctx: Booking, ask: Ask, hold: Hold) -> DayRead:
    """Read the day from IDEXX, show it, and check the held slot is still free on it."""
    read = await ctx.read(hold.start)
    await ctx.show(read)
    availability = ctx.tools.availability
    if await availability.still_free(ctx.clinic, hold, ask):
        return read
    await _release_own(ctx, hold)
    raise await _taken(ctx, ask, hold, "IDEXX's calendar, read just now, has it taken")


async def _taken(ctx: Booking, ask: Ask, hold: Hold, why: str) -> SlotUnavailableError:
    alternatives = await ctx.tools.availability.alternatives(ctx.clinic, ask, hold.start)
    when = hold.start.astimezone(ctx.clinic.zone).isoformat()
    return SlotUnavailableError(
        f"{when} cannot be booked on column {hold.resource_id}: {why}",
        alternatives=alternatives,
    )


async def _release_own(ctx: Booking, hold: Hold) -> None:
    if ctx.run.progress.get("ownHold") == str(hold.id):
        await ctx.tools.availability.holds.release(
            clinic_id=ctx.clinic.id, hold_id=hold.id, now=utc(ctx.tools.now())
        )
        await ctx.run.note(ownHold=None)


async def _send(
    ctx: Booking,
    order: BookingOrder,
    who: tuple[str, str | None],
    slot: tuple[Ask, Hold],
    before: DayRead,
) -> Booked:
    """Record what is about to be sent, send the create once, and read it back."""
    (patient_id, client_id), (ask, hold) = who, slot
    request = AppointmentRequest(
        patient_id=patient_id,
        start=hold.start,
        end=hold.end,
        type_id=order.type_id,
        provider_id=order.provider_id,
        room_id=hold.resource_id,
        reason=order.reason,
        note=order.note,
    )
    sent = {
        "before": sorted(calendar_ids(before.page)),
        "patientId": patient_id,
        "clientId": client_id,
        "start": hold.start.isoformat(),
        "resourceId": hold.resource_id,
        "holdId": str(hold.id),
    }
    await ctx.run.note(sent=sent)
    try:
        await ctx.session.create_appointment(request)
    except PimsSlotTakenError as error:
        await ctx.run.note(sent=None)
        await _release_own(ctx, hold)
        raise await _taken(ctx, ask, hold, "IDEXX refused it as taken") from error
    except (PimsWriteRefusedError, PimsWriteNotSentError):
        await ctx.run.note(sent=None)  # nothing changed in IDEXX
        await _release_own(ctx, hold)
        raise
    except PimsError:
        return await _confirmed(ctx, sent, answered=False)  # its answer was lost: read back
    return await _confirmed(ctx, sent, answered=True)


async def _confirmed(ctx: Booking, sent: Mapping[str, Any], *, answered: bool) -> Booked:
    found = await _read_back(ctx, sent, answered=answered)
    if found is None:
        raise PimsWriteNotSentError(
            "The booking did not reach IDEXX (its calendar, read back, does not have it); "
            "repeat the request with the same Idempotency-Key to book it"
        )
    return found


async def _read_back(ctx: Booking, sent: Mapping[str, Any], *, answered: bool) -> Booked | None:
    """The appointment the sent create made; None when it did not land (safe to send again)."""
    start = datetime.fromisoformat(sent["start"])
    try:
        after = await ctx.read(start)
    except PimsError as error:
        why = f"reading its calendar back failed ({error.code})"
        raise PimsWriteUnconfirmedError(UNCONFIRMED.format(why=why)) from error
    target = Target(sent["patientId"], start, sent["resourceId"])
    found = find_created(sent["before"], after.page, target)
    verdict = found.verdict
    if verdict is None or (verdict is False and answered):
        why = (
            found.describe()
            if verdict is None
            else "IDEXX said it booked it, its calendar lacks it"
        )
        raise PimsWriteUnconfirmedError(UNCONFIRMED.format(why=why))
    if found.found is None:
        await ctx.run.note(sent=None)
        return None
    appointment = found.found
    booked = Booked(
        appointment_id=appointment.appointment_id,
        start=appointment.start,
        end=appointment.end,
        status=appointment.status,
        patient_id=appointment.patient.id,
        client_id=appointment.client.id or sent.get("clientId"),
        resource_id=appointment.room_id,
    )
    await ctx.show(after, booked.appointment_id)
    await ctx.run.note(sent=None, booked=booked.document())
    await _consume(ctx, sent)
    return booked


async def _consume(ctx: Booking, sent: Mapping[str, Any]) -> None:
    """The hold served its booking: released (the mirror already shows the appointment)."""
    await ctx.tools.availability.holds.release(
        clinic_id=ctx.clinic.id, hold_id=UUID(sent["holdId"]), now=utc(ctx.tools.now())
    )
    await ctx.run.note(ownHold=None)
