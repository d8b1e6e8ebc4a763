"""BookingDesk: search, create, cancel and reschedule in the clinic's PIMS, exactly once.

Each write claims its Idempotency-Key (`exactly_once.py`), opens the clinic's session only
when there is work to do, runs its steps (`booking_create.py`, `booking_cancel.py`) and
stores the outcome: the confirmed answer, a refusal a repeat gets again, a failure a repeat
may try again, or `unknown` when no read-back could tell. Every outcome writes an outbox
event without personal data (docs/booking.md).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from pims_sync.domain.availability import FreeSlot
from pims_sync.domain.booking_orders import (
    RESCHEDULE_CANCEL_REASON,
    Booked,
    BookingOrder,
    BookingOutcome,
    CancelOrder,
    RescheduleOrder,
)
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.instants import iso
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.domain.pims_writes import PatientMatch, check_search
from pims_sync.domain.write_requests import (
    RETRY,
    SERVICE_KEY_PREFIX,
    UNFINISHED,
    WriteRoute,
    WriteState,
)
from pims_sync.errors import (
    AppointmentNotFoundError,
    HoldNotFoundError,
    InvalidInputError,
    PimsSyncError,
    PimsWriteRefusedError,
    PimsWriteUnconfirmedError,
    SlotUnavailableError,
)
from pims_sync.ports.events import EventLog
from pims_sync.sync.booking_cancel import cancel, look_up
from pims_sync.sync.booking_create import Booking, BookingTools, book
from pims_sync.sync.booking_sessions import BookingSessions
from pims_sync.sync.exactly_once import ANSWER, WriteLedger, WriteRun

log = logging.getLogger(__name__)

# Refusals: IDEXX does not hold the write and will not; a repeat gets the same answer.
FINAL: tuple[type[PimsSyncError], ...] = (
    SlotUnavailableError,
    PimsWriteRefusedError,
    AppointmentNotFoundError,
    HoldNotFoundError,
    InvalidInputError,
)
OUTSTANDING = ("sent", "cancelSent")  # progress marks of a write sent and not yet read back
Flow = Callable[[Booking], Awaitable[BookingOutcome]]


class BookingDesk:
    """The booking write-back of every clinic."""

    def __init__(
        self,
        *,
        sessions: BookingSessions,
        ledger: WriteLedger,
        tools: BookingTools,
        events: EventLog,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.sessions = sessions
        self.ledger = ledger
        self.tools = tools
        self.events = events
        self._now = now

    async def search(self, clinic: Clinic, query: str, limit: int) -> list[PatientMatch]:
        """Patients of the clinic's PIMS matching a name, an id or an owner's name."""
        text = check_search(query, limit)
        async with self.sessions.open(clinic) as session:
            return await session.search_patients(text, limit)

    async def create(self, clinic: Clinic, order: BookingOrder, *, key: str) -> BookingOutcome:
        """Book one visit (an existing patient, or a new client and patient)."""

        async def flow(ctx: Booking) -> BookingOutcome:
            return BookingOutcome(await book(ctx, order))

        return await self._write(clinic, WriteRoute.CREATE, key, order.document(), flow)

    async def cancel(
        self, clinic: Clinic, order: CancelOrder, *, key: str | None
    ) -> BookingOutcome:
        """Cancel one appointment (a key is optional: cancelling twice changes nothing)."""

        async def flow(ctx: Booking) -> BookingOutcome:
            return BookingOutcome(await cancel(ctx, order.appointment_id, order.said_reason))

        key = key or f"{SERVICE_KEY_PREFIX}{uuid.uuid4()}"
        body = {"appointmentId": order.appointment_id, "reason": order.reason}
        return await self._write(clinic, WriteRoute.CANCEL, key, body, flow)

    async def reschedule(
        self, clinic: Clinic, order: RescheduleOrder, *, key: str
    ) -> BookingOutcome:
        """Book the new visit, confirm it, then cancel the old one (never the other way)."""

        async def flow(ctx: Booking) -> BookingOutcome:
            return await _move(ctx, order)

        body = {"cancelAppointmentId": order.cancel_appointment_id, **order.booking.document()}
        return await self._write(clinic, WriteRoute.RESCHEDULE, key, body, flow)

    async def _write(
        self, clinic: Clinic, route: WriteRoute, key: str, body: Mapping[str, Any], flow: Flow
    ) -> BookingOutcome:
        begun = await self.ledger.begin(clinic_id=clinic.id, key=key, route=route, body=body)
        if begun.replay:
            return replay(begun.request.result, clinic)
        run = WriteRun(self.ledger, begun)
        try:
            async with self.sessions.open(clinic) as session:
                outcome = await flow(Booking(clinic, session, run, self.tools))
        except Exception as error:
            raise await self._failed(clinic, route, run, error) from error
        document = {**run.progress, ANSWER: outcome.document(), UNFINISHED: outcome.unfinished}
        await run.finish(WriteState.SUCCEEDED, document)
        await self._announce(clinic, route, outcome)
        return outcome

    async def _failed(
        self, clinic: Clinic, route: WriteRoute, run: WriteRun, error: Exception
    ) -> Exception:
        """Store how the write ended; the error to answer."""
        outstanding = any(mark in run.progress for mark in OUTSTANDING)
        if isinstance(error, PimsWriteUnconfirmedError) or (
            outstanding and not isinstance(error, FINAL)
        ):
            answer: Exception = _unconfirmed(error)
            state, result = (
                WriteState.UNKNOWN,
                {**run.progress, "error": {"code": answer_code(answer)}},
            )
        elif isinstance(error, FINAL):
            answer, state = error, WriteState.FAILED
            result = {**run.progress, "error": stored_error(error)}
        else:
            answer, state = error, WriteState.FAILED
            result = {**run.progress, RETRY: True, "error": {"code": answer_code(error)}}
        try:
            await run.finish(state, result)
        except PimsSyncError as lost:
            log.warning("booking write outcome not stored: %s", lost.code)
        payload = {"route": route.value, "state": state.value, "errorCode": answer_code(answer)}
        await self._append(clinic, NewEvent(EventType.BOOKING_FAILED, None, payload))
        log.info("booking %s ended %s (%s)", route.value, state.value, answer_code(answer))
        return answer

    async def _announce(self, clinic: Clinic, route: WriteRoute, outcome: BookingOutcome) -> None:
        kind = {
            WriteRoute.CREATE: EventType.BOOKING_CREATED,
            WriteRoute.CANCEL: EventType.BOOKING_CANCELLED,
            WriteRoute.RESCHEDULE: EventType.BOOKING_RESCHEDULED,
        }[route]
        appointment = outcome.appointment
        payload: dict[str, Any] = {
            "appointmentId": appointment.appointment_id,
            "start": iso(appointment.start),
            "end": iso(appointment.end),
            "resourceId": appointment.resource_id,
            "route": route.value,
        }
        if route is WriteRoute.RESCHEDULE:
            payload["cancelledAppointmentId"] = outcome.cancelled_appointment_id
            payload["oldAppointmentCancelled"] = outcome.old_cancelled
        await self._append(clinic, NewEvent(kind, appointment.appointment_id, payload))
        log.info("booking %s confirmed: appointment %s", route.value, appointment.appointment_id)

    async def _append(self, clinic: Clinic, event: NewEvent) -> None:
        await self.events.append(clinic_id=clinic.id, events=[event], at=self._now())


async def _move(ctx: Booking, order: RescheduleOrder) -> BookingOutcome:
    """The new appointment confirmed first; then the old one cancelled, or said not to be."""
    old_id = order.cancel_appointment_id
    booking = order.booking
    progress = ctx.run.progress
    if "booked" not in progress and "sent" not in progress:
        old = await look_up(ctx, old_id)  # 404 before anything is booked
        if old.cancelled:
            raise InvalidInputError(
                f"appointment {old_id} is already cancelled: book the new visit with create"
            )
        if booking.patient_id is None and not booking.is_new_client:
            if old.patient_id is None:
                raise InvalidInputError(f"appointment {old_id} names no patient: give patientId")
            await ctx.run.note(oldPatient={"id": old.patient_id, "clientId": old.client_id})
    # Once a create was sent, the old one is not looked at again before it is read back:
    # cancelled meanwhile, it must not orphan the new appointment.
    who = ctx.run.progress.get("oldPatient")
    if who is not None and booking.patient_id is None and not booking.is_new_client:
        booking = booking.for_patient(who["id"], who.get("clientId"))
    new = await book(ctx, booking)
    try:
        await cancel(ctx, old_id, RESCHEDULE_CANCEL_REASON)
    except AppointmentNotFoundError:
        pass  # it left IDEXX meanwhile: not booked any more, which is what was asked
    except PimsSyncError as error:
        log.warning("reschedule: the old appointment is still booked (%s)", error.code)
        message = (
            f"The new appointment {new.appointment_id} is booked, but appointment {old_id} is "
            f"still booked too: its cancel failed ({error.code}). Repeat the request with the "
            "same Idempotency-Key to cancel it."
        )
        return BookingOutcome(new, old_id, old_cancelled=False, message=message)
    return BookingOutcome(new, old_id, old_cancelled=True)


def _unconfirmed(error: Exception) -> PimsWriteUnconfirmedError:
    if isinstance(error, PimsWriteUnconfirmedError):
        return error
    code = answer_code(error)
    return PimsWriteUnconfirmedError(
        f"The write was sent to IDEXX but could not be confirmed ({code}). Repeat the request "
        "with the same Idempotency-Key: it reads IDEXX back first and never writes twice."
    )


def answer_code(error: Exception) -> str:
    """The machine code of an error (`internal_error` for anything unexpected)."""
    return error.code if isinstance(error, PimsSyncError) else "internal_error"


def stored_error(error: PimsSyncError) -> dict[str, Any]:
    """A refusal as stored, for repeats (the message is the service's own words)."""
    stored: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(error, SlotUnavailableError):
        stored["alternatives"] = [
            {
                "start": s.start.isoformat(),
                "end": s.end.isoformat(),
                "resourceIds": list(s.resource_ids),
            }
            for s in error.alternatives
            if isinstance(s, FreeSlot)
        ]
    return stored


def replay(result: Mapping[str, Any], clinic: Clinic) -> BookingOutcome:
    """A stored outcome again: the answer, or the refusal raised as it was."""
    answer = result.get(ANSWER)
    if answer is not None:
        outcome = BookingOutcome.of_document(answer, replayed=True)
        appointment = outcome.appointment.in_zone(clinic.zone)
        return BookingOutcome(
            appointment,
            outcome.cancelled_appointment_id,
            outcome.old_cancelled,
            outcome.message,
            replayed=True,
        )
    raise stored_refusal(result.get("error") or {})


def _refusals() -> dict[str, type[PimsSyncError]]:
    """Every refusal class by its code (the FINAL ones and their subclasses)."""
    found: dict[str, type[PimsSyncError]] = {}
    pending: list[type[PimsSyncError]] = list(FINAL)
    while pending:
        kind = pending.pop()
        found.setdefault(kind.code, kind)
        pending.extend(kind.__subclasses__())
    return found


def stored_refusal(error: Mapping[str, Any]) -> PimsSyncError:
    """The refusal a stored error was."""
    message = str(error.get("message") or "The write was refused")
    kind = _refusals().get(str(error.get("code")), InvalidInputError)
    if kind is SlotUnavailableError:
        slots = [
            FreeSlot(
                datetime.fromisoformat(s["start"]),
                datetime.fromisoformat(s["end"]),
                tuple(s["resourceIds"]),
            )
            for s in error.get("alternatives", [])
        ]
        return SlotUnavailableError(message, alternatives=slots)
    return kind(message)


__all__ = ["Booked", "BookingDesk"]
