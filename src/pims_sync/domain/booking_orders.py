"""What a receptionist asks the booking write-back to do: book, cancel, move a visit.

Times are the clinic's wall clock (a date and HH:MM), made true instants in the clinic's
zone here; a time the zone skips (a DST gap) or an end not after the start is refused. The
reprs show ids and times only: names, phones and reasons are personal data.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pims_sync.domain.pims_writes import NewClient, NewPatient
from pims_sync.errors import InvalidInputError

DEFAULT_CANCEL_REASON = "Cancelled via phone"
RESCHEDULE_CANCEL_REASON = "Rescheduled via phone"


def wall_clock(day: date, moment: time, zone: ZoneInfo) -> datetime:
    """The instant of a clinic wall-clock time; refused when the zone skips it (DST)."""
    local = datetime.combine(day, moment, tzinfo=zone)
    try:
        instant = local.astimezone(UTC)
    except OverflowError:
        raise InvalidInputError(f"{day} is out of range") from None
    if instant.astimezone(zone).replace(tzinfo=None) != local.replace(tzinfo=None):
        raise InvalidInputError(
            f"{day} {moment:%H:%M} does not exist in the clinic's time zone ({zone.key}): "
            "the clocks skip it"
        )
    return local


@dataclass(frozen=True, slots=True, repr=False)
class BookingOrder:
    """One visit to book: when (clinic wall clock), for whom, with what, where."""

    day: date
    start_time: time
    reason: str
    end_time: time | None = None
    patient_id: str | None = None
    client_id: str | None = None
    new_client: NewClient | None = None
    new_patient: NewPatient | None = None
    note: str | None = None
    provider_id: str | None = None
    type_id: str | None = None
    room_id: str | None = None
    hold_id: UUID | None = None

    def __post_init__(self) -> None:
        if (self.new_client is None) != (self.new_patient is None):
            raise InvalidInputError("newClient and newPatient are required for new clients")
        if self.new_client is not None and self.patient_id is not None:
            raise InvalidInputError("a new client's booking names no patientId")
        if self.end_time is not None and self.end_time <= self.start_time:
            raise InvalidInputError("endTime must be after startTime (on the same day)")

    @property
    def is_new_client(self) -> bool:
        """Whether the client and patient are registered first."""
        return self.new_client is not None

    def start(self, zone: ZoneInfo) -> datetime:
        """The visit's start, a true instant."""
        return wall_clock(self.day, self.start_time, zone)

    def end(self, zone: ZoneInfo, visit: timedelta) -> datetime:
        """The given end (after the start, the same day), else the start plus `visit`."""
        start = self.start(zone)
        if self.end_time is None:
            return start + visit
        end = wall_clock(self.day, self.end_time, zone)
        if end <= start:
            raise InvalidInputError("endTime must be after startTime (on the same day)")
        return end

    def for_patient(self, patient_id: str, client_id: str | None) -> BookingOrder:
        """The same order for a known patient (a reschedule of the old appointment's)."""
        return dataclasses.replace(self, patient_id=patient_id, client_id=client_id)

    def document(self) -> dict[str, Any]:
        """Every field as plain values (what a key's body hash covers)."""
        return dataclasses.asdict(self)

    def __repr__(self) -> str:
        return (
            f"BookingOrder(day={self.day}, start_time={self.start_time:%H:%M}, "
            f"patient_id={self.patient_id!r}, room_id={self.room_id!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class CancelOrder:
    """One appointment to cancel, and why (said to IDEXX)."""

    appointment_id: str
    reason: str | None = None

    def __post_init__(self) -> None:
        if not self.appointment_id.strip():
            raise InvalidInputError("appointmentId is required")

    @property
    def said_reason(self) -> str:
        """The reason IDEXX records (the original's default when none was given)."""
        return self.reason or DEFAULT_CANCEL_REASON

    def __repr__(self) -> str:
        return f"CancelOrder(appointment_id={self.appointment_id!r})"


@dataclass(frozen=True, slots=True, repr=False)
class RescheduleOrder:
    """Move a visit: book the new one, confirm it, then cancel the old one."""

    cancel_appointment_id: str
    booking: BookingOrder

    def __post_init__(self) -> None:
        if not self.cancel_appointment_id.strip():
            raise InvalidInputError("cancelAppointmentId is required")

    def __repr__(self) -> str:
        return (
            f"RescheduleOrder(cancel_appointment_id={self.cancel_appointment_id!r}, "
            f"booking={self.booking!r})"
        )


@dataclass(frozen=True, slots=True)
class Booked:
    """An appointment as IDEXX showed it when read back: what a booking answer names."""

    appointment_id: str
    start: datetime
    end: datetime
    status: str | None = None
    patient_id: str | None = None
    client_id: str | None = None
    resource_id: str | None = None

    def document(self) -> dict[str, Any]:
        """As stored with its write request (instants in ISO 8601)."""
        return {
            "id": self.appointment_id,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "status": self.status,
            "patientId": self.patient_id,
            "clientId": self.client_id,
            "resourceId": self.resource_id,
        }

    @classmethod
    def of_document(cls, document: Mapping[str, Any]) -> Booked:
        """Back from what `document` stored."""
        return cls(
            appointment_id=str(document["id"]),
            start=datetime.fromisoformat(document["start"]),
            end=datetime.fromisoformat(document["end"]),
            status=document.get("status"),
            patient_id=document.get("patientId"),
            client_id=document.get("clientId"),
            resource_id=document.get("resourceId"),
        )

    def in_zone(self, zone: ZoneInfo) -> Booked:
        """The same appointment with its times in the clinic's zone."""
        return dataclasses.replace(
            self, start=self.start.astimezone(zone), end=self.end.astimezone(zone)
        )


@dataclass(frozen=True, slots=True)
class BookingOutcome:
    """What a confirmed write answers: the appointment, and for a reschedule the old one's fate."""

    appointment: Booked
    cancelled_appointment_id: str | None = None
    old_cancelled: bool | None = None
    message: str | None = None
    replayed: bool = False

    @property
    def unfinished(self) -> bool:
        """A reschedule whose old appointment is still booked (a repeat finishes it)."""
        return self.old_cancelled is False

    def document(self) -> dict[str, Any]:
        """As stored with its write request, for repeats."""
        return {
            "appointment": self.appointment.document(),
            "cancelledAppointmentId": self.cancelled_appointment_id,
            "oldAppointmentCancelled": self.old_cancelled,
            "message": self.message,
        }

    @classmethod
    def of_document(cls, document: Mapping[str, Any], *, replayed: bool) -> BookingOutcome:
        """Back from what `document` stored."""
        return cls(
            appointment=Booked.of_document(document["appointment"]),
            cancelled_appointment_id=document.get("cancelledAppointmentId"),
            old_cancelled=document.get("oldAppointmentCancelled"),
            message=document.get("message"),
            replayed=replayed,
        )
