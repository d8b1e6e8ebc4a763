"""`/api/appointments/*` and `pims-sync appointments --json`: booking write-back answers.

An appointment's `start`/`end` are the clinic's wall clock with their offset, like the
slots of availability; `timestamp` is UTC `…Z` like every other answer. Every booking answer
is what IDEXX showed when read back (`confirmed: true`), never what was sent.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import Field

from pims_sync.domain.booking_orders import BookingOutcome
from pims_sync.domain.pims_writes import PatientMatch
from pims_sync.shapes.availability import ClinicTime
from pims_sync.shapes.base import CamelModel, Instant, omitted


class AppointmentOut(CamelModel):
    """An appointment as IDEXX shows it."""

    id: str = Field(description="The IDEXX appointment id.")
    start: ClinicTime
    end: ClinicTime
    status: str | None = omitted("IDEXX's status, e.g. `not arrived`, `Cancelled`.")
    patient_id: str | None = omitted()
    client_id: str | None = omitted()
    resource_id: str | None = omitted("The calendar column (room) it is in.")


class BookingOut(CamelModel):
    """A confirmed create, cancel or reschedule."""

    success: bool
    appointment: AppointmentOut = Field(
        description="The new appointment (create, reschedule) or the cancelled one (cancel)."
    )
    confirmed: Literal[True] = Field(
        True, description="Always true: the appointment was read back from IDEXX."
    )
    cancelled_appointment_id: str | None = omitted("Reschedule: the old appointment.")
    old_appointment_cancelled: bool | None = omitted(
        "Reschedule: whether the old appointment is cancelled. `false`: the new one is booked "
        "and the old one still is; repeat the request with the same Idempotency-Key to cancel it."
    )
    message: str | None = omitted("What is left to do, when something is.")
    replayed: bool | None = omitted("True: the stored answer of an earlier request with this key.")
    duration_ms: int
    timestamp: Instant

    @classmethod
    def of(cls, outcome: BookingOutcome, zone: ZoneInfo, *, duration_ms: int) -> BookingOut:
        """A write's outcome, its times in the clinic's zone."""
        booked = outcome.appointment.in_zone(zone)
        return cls(
            success=not outcome.unfinished,
            appointment=AppointmentOut(
                id=booked.appointment_id,
                start=booked.start,
                end=booked.end,
                status=booked.status,
                patient_id=booked.patient_id,
                client_id=booked.client_id,
                resource_id=booked.resource_id,
            ),
            cancelled_appointment_id=outcome.cancelled_appointment_id,
            old_appointment_cancelled=outcome.old_cancelled,
            message=outcome.message,
            replayed=True if outcome.replayed else None,
            duration_ms=duration_ms,
            timestamp=datetime.now(UTC),
        )


class PatientMatchOut(CamelModel):
    """One patient a search found, with the client it belongs to."""

    patient_id: str
    name: str | None = omitted()
    species: str | None = omitted()
    breed: str | None = omitted()
    client_id: str | None = omitted()
    client_name: str | None = omitted()

    @classmethod
    def of(cls, match: PatientMatch) -> PatientMatchOut:
        """From a search's match."""
        patient, client = match.patient, match.client
        return cls(
            patient_id=patient.id,
            name=patient.name,
            species=patient.species.name if patient.species else None,
            breed=patient.breed.name if patient.breed else None,
            client_id=client.id if client else patient.client_id,
            client_name=client.full_name if client else None,
        )


class PatientSearchOut(CamelModel):
    """`POST /api/appointments/search-patient`."""

    success: Literal[True] = True
    patients: list[PatientMatchOut]
    total_count: int
    duration_ms: int
    timestamp: Instant
