"""What the booking write-back sends to and reads from the PIMS (docs/provider.md#writes).

Frozen values, aware instants, and reprs that show ids and times only: names, phones,
e-mails and reasons are personal data and never reach a log line through a repr.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Literal
from zoneinfo import ZoneInfo

from pims_sync.errors import InvalidInputError

CancelAction = Literal["cancel", "delete"]
CANCEL_ACTIONS: tuple[CancelAction, ...] = ("cancel", "delete")
MAX_SEARCH_LIMIT = 100  # the most results one patient search asks for


@dataclass(frozen=True, slots=True)
class PimsRef:
    """A PIMS lookup value (species, breed, gender): its id when known, and its name."""

    id: str | None
    name: str


@dataclass(frozen=True, slots=True, repr=False)
class PimsClient:
    """A client (owner) as the PIMS shows it after a search or a create."""

    id: str
    first_name: str | None = None
    last_name: str | None = None
    mobile_phone: str | None = None
    home_phone: str | None = None
    work_phone: str | None = None
    email: str | None = None

    @property
    def full_name(self) -> str | None:
        """First and last name joined, or None when both are missing."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part).strip()
        return name or None

    @property
    def phones(self) -> tuple[str, ...]:
        """The numbers the PIMS holds, mobile first (then home, then work)."""
        return tuple(p for p in (self.mobile_phone, self.home_phone, self.work_phone) if p)

    def __repr__(self) -> str:
        return f"PimsClient(id={self.id!r})"


@dataclass(frozen=True, slots=True, repr=False)
class PimsPatient:
    """A patient (animal) as the PIMS shows it after a create."""

    id: str
    name: str | None = None
    species: PimsRef | None = None
    breed: PimsRef | None = None
    gender: PimsRef | None = None
    client_id: str | None = None

    def __repr__(self) -> str:
        return f"PimsPatient(id={self.id!r}, client_id={self.client_id!r})"


@dataclass(frozen=True, slots=True, repr=False)
class PatientMatch:
    """One answer of a patient search: the animal and its owner, as the search gives them."""

    patient: PimsPatient
    client: PimsClient | None
    age: str | None = None  # the PIMS's own words ("4 yrs 9 mos")
    active: bool = True

    @property
    def patient_id(self) -> str:
        """The patient's id."""
        return self.patient.id

    def __repr__(self) -> str:
        owner = self.client.id if self.client else None
        return f"PatientMatch(patient_id={self.patient.id!r}, client_id={owner!r})"


@dataclass(frozen=True, slots=True, repr=False)
class NewClient:
    """A client to register; at least a first and a last name."""

    first_name: str
    last_name: str
    mobile_phone: str | None = None
    home_phone: str | None = None
    work_phone: str | None = None
    email: str | None = None
    title: str | None = None
    address: str | None = None
    city: str | None = None
    state: str | None = None
    postal_code: str | None = None

    def __post_init__(self) -> None:
        if not self.first_name.strip() or not self.last_name.strip():
            raise InvalidInputError("a new client needs a first and a last name")

    def __repr__(self) -> str:
        return "NewClient(…)"


@dataclass(frozen=True, slots=True, repr=False)
class NewPatient:
    """A patient to register for a client; a name at least.

    species, breed and gender are the PIMS's lookup values: an id the PIMS gave (a search
    shows them), or a name alone, which the PIMS may refuse.
    """

    name: str
    species: PimsRef | None = None
    breed: PimsRef | None = None
    gender: PimsRef | None = None
    color: str | None = None
    date_of_birth: date | None = None

    def __post_init__(self) -> None:
        if not self.name.strip():
            raise InvalidInputError("a new patient needs a name")

    def __repr__(self) -> str:
        return "NewPatient(…)"


@dataclass(frozen=True, slots=True, repr=False)
class AppointmentRequest:
    """One appointment to book: an existing patient, aware start and end, the column.

    `type_id`, `provider_id` (the vet's user id) and `room_id` (the calendar column) are
    the ids of the appointment view; None leaves the field out and the PIMS picks. The
    PIMS takes one date and two wall-clock times: start and end must fall on the same
    clinic day (the adapter checks, knowing the zone).
    """

    patient_id: str
    start: datetime
    end: datetime
    type_id: str | None = None
    provider_id: str | None = None
    room_id: str | None = None
    reason: str | None = None
    note: str | None = None

    def __post_init__(self) -> None:
        if not self.patient_id.strip():
            raise InvalidInputError("an appointment needs a patient id")
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInputError("appointment times must be timezone-aware")
        if self.end <= self.start:
            raise InvalidInputError("an appointment must end after it starts")
        if self.start.second or self.start.microsecond or self.end.second or self.end.microsecond:
            raise InvalidInputError("the PIMS books whole minutes (HH:MM)")

    def __repr__(self) -> str:
        return (
            f"AppointmentRequest(patient_id={self.patient_id!r}, start={self.start.isoformat()}, "
            f"end={self.end.isoformat()}, room_id={self.room_id!r})"
        )


@dataclass(frozen=True, slots=True, repr=False)
class AppointmentDetails:
    """One appointment read back by id: when, for whom, where, and whether it is cancelled.

    `cancelled` is IDEXX's `deleted: true` (the only form of a cancelled appointment it
    documents); a hard-deleted one is not found at all.
    """

    appointment_id: str
    start: datetime
    end: datetime
    status: str | None
    cancelled: bool
    patient_id: str | None = None
    client_id: str | None = None
    room_id: str | None = None
    provider_id: str | None = None
    type_id: str | None = None
    block: bool = False
    cancelled_reason: str | None = None
    booked_by: str | None = None
    patient_name: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInputError("appointment times must be timezone-aware")

    def __repr__(self) -> str:
        return (
            f"AppointmentDetails(appointment_id={self.appointment_id!r}, "
            f"start={self.start.isoformat()}, end={self.end.isoformat()}, "
            f"status={self.status!r}, cancelled={self.cancelled}, "
            f"patient_id={self.patient_id!r}, room_id={self.room_id!r})"
        )


@dataclass(frozen=True, slots=True)
class AppointmentType:
    """A kind of visit the PIMS books; `duration` as given (unit unknown: 1 in every sample)."""

    id: str
    name: str
    duration: int | None = None
    color: str | None = None


@dataclass(frozen=True, slots=True)
class Room:
    """A calendar column (a room, or a doctor's column): the resource a booking takes."""

    id: str
    name: str
    position: int | None = None


@dataclass(frozen=True, slots=True)
class Provider:
    """A person appointments can be booked with (the create's `user_id`)."""

    id: str
    name: str


@dataclass(frozen=True, slots=True)
class BusinessHours:
    """Opening hours on some weekdays (0 = Sunday, as the PIMS numbers them)."""

    weekdays: frozenset[int]
    start: time
    end: time


@dataclass(frozen=True, slots=True)
class AppointmentView:
    """The calendar's configuration: what a create may name (types, rooms, providers)."""

    slot_minutes: int | None
    types: tuple[AppointmentType, ...]
    rooms: tuple[Room, ...]
    providers: tuple[Provider, ...]
    business_hours: tuple[BusinessHours, ...] = ()

    def type(self, type_id: str) -> AppointmentType | None:
        """The appointment type with this id, if the PIMS has it."""
        return next((kind for kind in self.types if kind.id == type_id), None)

    def room(self, room_id: str) -> Room | None:
        """The room (column) with this id, if the PIMS has it."""
        return next((room for room in self.rooms if room.id == room_id), None)

    def provider(self, provider_id: str) -> Provider | None:
        """The provider with this id, if the PIMS has it."""
        return next((person for person in self.providers if person.id == provider_id), None)


def check_search(query: str, limit: int) -> str:
    """The query trimmed; an empty query or a limit outside 1..100 is refused."""
    text = " ".join(query.split())
    if not text:
        raise InvalidInputError("a patient search needs a query")
    if isinstance(limit, bool) or not 1 <= limit <= MAX_SEARCH_LIMIT:
        raise InvalidInputError(f"limit must be between 1 and {MAX_SEARCH_LIMIT}")
    return text


def check_appointment_id(appointment_id: str) -> None:
    """Refuse an empty appointment id."""
    if not appointment_id.strip():
        raise InvalidInputError("an appointment id is required")


def check_cancel(appointment_id: str, action: str) -> None:
    """Refuse an empty id or an action other than cancel / delete."""
    check_appointment_id(appointment_id)
    if action not in CANCEL_ACTIONS:
        raise InvalidInputError("action must be cancel or delete")


@dataclass(frozen=True, slots=True)
class WallClockSlot:
    """A booking as the PIMS takes it: one clinic date, a start and an end time (HH:MM)."""

    day: date
    start: time
    end: time


def wall_clock_slot(request: AppointmentRequest, zone: ZoneInfo) -> WallClockSlot:
    """The request in the clinic's wall clock; refused when it does not fit in one day."""
    start = request.start.astimezone(zone)
    end = request.end.astimezone(zone)
    if end.date() != start.date():
        raise InvalidInputError("an appointment must start and end on the same clinic day")
    return WallClockSlot(start.date(), start.time(), end.time())
