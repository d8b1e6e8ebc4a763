"""Request bodies of `/api/appointments/*`: the original's bodies, checked, camelCase.

The fields and rules are the original's (`date` YYYY-MM-DD, times HH:MM, `reason`
required; an existing patient by `patientId`, or `isNewClient` with `newClient` and
`newPatient`), plus `holdId`. `clinicId` names the clinic for a service key; unknown fields
are ignored, as the original did (docs/booking.md#the-routes).
"""

from __future__ import annotations

import re
from datetime import date, time
from typing import Annotated, Literal, Self
from uuid import UUID

from pydantic import BeforeValidator, Field, StringConstraints, model_validator
from pydantic_core import PydanticCustomError

from pims_sync.domain.booking_orders import BookingOrder, CancelOrder, RescheduleOrder
from pims_sync.domain.pims_writes import NewClient, NewPatient, PimsRef
from pims_sync.shapes.base import CamelModel

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Id = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]
Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=2000)]
DAY_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")
CLOCK_TEXT = re.compile(r"\d{2}:\d{2}")


def _day_text(value: object) -> object:
    if not isinstance(value, str) or not DAY_TEXT.fullmatch(value):
        raise PydanticCustomError("day", "Must be YYYY-MM-DD format")
    return value


def _clock_text(value: object) -> object:
    if not isinstance(value, str) or not CLOCK_TEXT.fullmatch(value):
        raise PydanticCustomError("clock", "Must be HH:MM format")
    return value


Day = Annotated[date, BeforeValidator(_day_text)]
Clock = Annotated[time, BeforeValidator(_clock_text)]
SEXES = {"M": "Male", "F": "Female"}
Phone = Annotated[str, StringConstraints(strip_whitespace=True, min_length=10, max_length=40)]
Email = Annotated[
    str, StringConstraints(strip_whitespace=True, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.\S+$")
]


class ClinicBody(CamelModel):
    """What every booking body may carry: the clinic (a service key must name it)."""

    clinic_id: UUID | None = None


class SearchPatientBody(ClinicBody):
    """`{query, limit}`: a name, an id or an owner's name."""

    query: Text
    limit: int = Field(10, ge=1, le=100)


class NewClientBody(CamelModel):
    """A client to register (the original's `newClient`)."""

    first_name: Text
    last_name: Text
    phone: Phone
    email: Email | None = None
    address: Text | None = None
    city: Text | None = None
    state: Text | None = None
    zip_code: Text | None = None

    def owner(self) -> NewClient:
        """The client IDEXX registers (the phone as its mobile number)."""
        return NewClient(
            first_name=self.first_name,
            last_name=self.last_name,
            mobile_phone=self.phone,
            email=self.email,
            address=self.address,
            city=self.city,
            state=self.state,
            postal_code=self.zip_code,
        )


class NewPatientBody(CamelModel):
    """A patient to register for that client (the original's `newPatient`)."""

    name: Text
    species: Text
    breed: Text | None = None
    age: Text | None = None
    color: Text | None = None
    weight: Text | None = None
    sex: Literal["M", "F", "Unknown"] | None = None

    def pet(self) -> NewPatient:
        """The patient IDEXX registers; `age` and `weight` have no field in its form."""
        return NewPatient(
            name=self.name,
            species=PimsRef(None, self.species),
            breed=None if self.breed is None else PimsRef(None, self.breed),
            gender=PimsRef(None, SEXES[self.sex]) if self.sex in SEXES else None,
            color=self.color,
        )


class CreateBody(ClinicBody):
    """`POST /api/appointments/create`."""

    is_new_client: bool = False
    patient_id: Id | None = None
    client_id: Id | None = None
    new_client: NewClientBody | None = None
    new_patient: NewPatientBody | None = None
    day: Day = Field(alias="date", description="The clinic day, YYYY-MM-DD.")
    start_time: Clock = Field(description="HH:MM, the clinic's wall clock.")
    end_time: Clock | None = Field(
        None, description="HH:MM; default: the start plus the type's visit length."
    )
    reason: Text
    note: Note | None = None
    provider_id: Id | None = None
    appointment_type_id: Id | None = None
    room_id: Id | None = None
    hold_id: UUID | None = Field(None, description="A hold on this slot, consumed by the booking.")

    @model_validator(mode="after")
    def _who(self) -> Self:
        """An existing patient, or a new client and patient: one of the two."""
        if self.is_new_client:
            if self.new_client is None or self.new_patient is None:
                raise ValueError("newClient and newPatient are required for new clients")
        elif self.patient_id is None:
            raise ValueError(
                "Either patientId (for existing) or newClient+newPatient (for new) is required"
            )
        return self

    def order(self) -> BookingOrder:
        """The domain's order (times checked there)."""
        return BookingOrder(
            day=self.day,
            start_time=self.start_time,
            end_time=self.end_time,
            reason=self.reason,
            patient_id=None if self.is_new_client else self.patient_id,
            client_id=None if self.is_new_client else self.client_id,
            new_client=self.new_client.owner() if self.is_new_client and self.new_client else None,
            new_patient=self.new_patient.pet() if self.is_new_client and self.new_patient else None,
            note=self.note or None,
            provider_id=self.provider_id,
            type_id=self.appointment_type_id,
            room_id=self.room_id,
            hold_id=self.hold_id,
        )


class CancelBody(ClinicBody):
    """`POST /api/appointments/cancel`."""

    appointment_id: Id
    reason: Text | None = None

    def order(self) -> CancelOrder:
        """The domain's cancel."""
        return CancelOrder(appointment_id=self.appointment_id, reason=self.reason)


class RescheduleBody(CreateBody):
    """`POST /api/appointments/reschedule`: the old appointment and the new one's fields.

    `patientId` may be left out: the old appointment's patient is booked.
    """

    cancel_appointment_id: Id

    @model_validator(mode="after")
    def _who(self) -> Self:
        """A new client and patient need both; else the patient may be the old one's."""
        if self.is_new_client and (self.new_client is None or self.new_patient is None):
            raise ValueError("newClient and newPatient are required for new clients")
        return self

    def reschedule(self) -> RescheduleOrder:
        """The domain's reschedule."""
        return RescheduleOrder(
            cancel_appointment_id=self.cancel_appointment_id, booking=self.order()
        )
