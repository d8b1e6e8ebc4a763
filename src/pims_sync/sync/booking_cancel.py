"""Cancel: one appointment cancelled in IDEXX once, confirmed by reading it back.

The appointment is read first (404 when IDEXX has none; an already cancelled one is the
answer as it is), the cancel recorded as sent, sent once, and the appointment read back: shown
cancelled (or gone) is confirmed; still booked after a lost answer is "did not land", safe to
send again; anything else cannot be told (docs/booking.md#cancel).
"""

from __future__ import annotations

import dataclasses

from pims_sync.domain.booking_orders import Booked
from pims_sync.domain.pims_writes import AppointmentDetails
from pims_sync.errors import (
    AppointmentNotFoundError,
    PimsError,
    PimsNotFoundError,
    PimsWriteNotSentError,
    PimsWriteRefusedError,
    PimsWriteUnconfirmedError,
)
from pims_sync.sync.booking_create import Booking

CANCEL_SENT = "cancelSent"
DELETED = "deleted"  # the status said of an appointment IDEXX no longer has at all
UNCONFIRMED = (
    "The cancel was sent to IDEXX but could not be confirmed: {why}. Repeat the request with "
    "the same Idempotency-Key: it reads the appointment back first."
)


def booked(details: AppointmentDetails) -> Booked:
    """An appointment as read back by id."""
    return Booked(
        appointment_id=details.appointment_id,
        start=details.start,
        end=details.end,
        status=details.status,
        patient_id=details.patient_id,
        client_id=details.client_id,
        resource_id=details.room_id,
    )


async def look_up(ctx: Booking, appointment_id: str) -> AppointmentDetails:
    """The appointment as IDEXX has it; 404 `appointment_not_found` when it has none."""
    try:
        return await ctx.session.get_appointment(appointment_id)
    except PimsNotFoundError as error:
        raise AppointmentNotFoundError(
            f"Appointment {appointment_id} not found in the clinic's PIMS"
        ) from error


async def cancel(ctx: Booking, appointment_id: str, reason: str) -> Booked:
    """The appointment, confirmed cancelled (resuming a sent cancel by reading back)."""
    sent = ctx.run.progress.get(CANCEL_SENT)
    if sent is not None and sent.get("id") == appointment_id:
        found = await _read_back(ctx, Booked.of_document(sent), answered=False)
        if found is not None:
            return found
    details = await look_up(ctx, appointment_id)
    if details.cancelled:
        return await _show(ctx, booked(details))
    before = booked(details)
    await ctx.run.note(cancelSent=before.document())
    try:
        await ctx.session.cancel_appointment(appointment_id, reason)
    except (PimsWriteRefusedError, PimsWriteNotSentError):
        await ctx.run.note(cancelSent=None)  # nothing changed in IDEXX
        raise
    except PimsError:
        return await _confirmed(ctx, before, answered=False)  # answer lost (or a 404)
    return await _confirmed(ctx, before, answered=True)


async def _confirmed(ctx: Booking, before: Booked, *, answered: bool) -> Booked:
    found = await _read_back(ctx, before, answered=answered)
    if found is None:
        raise PimsWriteNotSentError(
            f"The cancel of appointment {before.appointment_id} did not reach IDEXX (read back, "
            "it is still booked); repeat the request with the same Idempotency-Key to cancel it"
        )
    return found


async def _read_back(ctx: Booking, before: Booked, *, answered: bool) -> Booked | None:
    """The cancelled appointment; None when it is still booked after a lost answer."""
    try:
        details: AppointmentDetails | None = await ctx.session.get_appointment(
            before.appointment_id
        )
    except PimsNotFoundError:
        details = None  # deleted outright: not booked any more either
    except PimsError as error:
        why = f"reading the appointment back failed ({error.code})"
        raise PimsWriteUnconfirmedError(UNCONFIRMED.format(why=why)) from error
    if details is not None and not details.cancelled:
        if answered:
            why = "IDEXX said it cancelled it, but reads it back still booked"
            raise PimsWriteUnconfirmedError(UNCONFIRMED.format(why=why))
        await ctx.run.note(cancelSent=None)
        return None
    gone = dataclasses.replace(before, status=DELETED)
    await ctx.run.note(cancelSent=None)
    return await _show(ctx, gone if details is None else booked(details))


async def _show(ctx: Booking, appointment: Booked) -> Booked:
    """Read the appointment's day back into the mirror and its case."""
    read = await ctx.read(appointment.start)
    await ctx.show(read, appointment.appointment_id)
    return appointment
