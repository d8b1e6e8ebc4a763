"""Appointments as the PIMS calendar describes them, in true instants."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum

from pims_sync.errors import InvalidInputError

# Boarding and hospital stays last days; an event longer than this cannot be a visit: the
# parser rejects it rather than keep it in every window it overlaps.
MAX_STAY = timedelta(days=60)


@dataclass(frozen=True, slots=True)
class Patient:
    """The animal an appointment is for."""

    id: str | None = None
    name: str | None = None
    species: str | None = None
    breed: str | None = None


@dataclass(frozen=True, slots=True)
class Client:
    """The owner who booked; contact details exactly as the PIMS gives them."""

    id: str | None = None
    first_name: str | None = None
    last_name: str | None = None
    phone: str | None = None
    email: str | None = None

    @property
    def full_name(self) -> str | None:
        """First and last name joined, or None when both are missing."""
        name = " ".join(part for part in (self.first_name, self.last_name) if part).strip()
        return name or None


@dataclass(frozen=True, slots=True)
class Appointment:
    """One booked visit; `start`/`end` are aware instants (clinic wall-clock + zone)."""

    appointment_id: str
    start: datetime
    end: datetime
    consultation_id: str | None = None
    status: str | None = None
    patient: Patient = field(default_factory=Patient)
    client: Client = field(default_factory=Client)
    provider_name: str | None = None
    room_id: str | None = None
    room_name: str | None = None
    type_description: str | None = None
    reason: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInputError("appointment times must be timezone-aware")

    @property
    def duration_minutes(self) -> int:
        """Whole minutes between start and end."""
        return round((self.end - self.start).total_seconds() / 60)


def overlaps(start: datetime, end: datetime | None, first: datetime, last: datetime) -> bool:
    """Whether [start, end) meets the window [first, last); no end: whether start is in it."""
    if start >= last:
        return False
    return start >= first or (end is not None and end > first)


class StaffKind(StrEnum):
    """What a staff event of the calendar is: time a column is blocked, or a shift."""

    BLOCK = "block"
    ROSTER = "roster"


@dataclass(frozen=True, slots=True)
class StaffEvent:
    """A block ("TP has Dr. appt") or a roster (a staff shift) on one calendar column."""

    event_id: str
    kind: StaffKind
    start: datetime
    end: datetime
    resource_id: str | None = None
    room_name: str | None = None
    provider_name: str | None = None

    def __post_init__(self) -> None:
        if self.start.tzinfo is None or self.end.tzinfo is None:
            raise InvalidInputError("staff event times must be timezone-aware")

    @property
    def key(self) -> tuple[str, StaffKind]:
        """What identifies the event in the calendar: its id and kind."""
        return self.event_id, self.kind


@dataclass(frozen=True, slots=True)
class RejectedEvent:
    """A calendar event that could not be read; `reason` names fields, never people.

    `start`/`end` are kept when they could be read, so the event follows the windows it
    overlaps; an event without a readable start may belong to any window.
    """

    index: int
    appointment_id: str | None
    reason: str
    start: datetime | None = None
    end: datetime | None = None

    def overlaps(self, first: datetime, last: datetime) -> bool:
        """Whether the event may belong to [first, last)."""
        return self.start is None or overlaps(self.start, self.end, first, last)

    def describe(self) -> str:
        """One line for results and logs: which event, and why."""
        which = f"appointment {self.appointment_id}" if self.appointment_id else "no readable id"
        return f"Calendar event #{self.index} ({which}) could not be read: {self.reason}"


@dataclass(frozen=True, slots=True)
class CalendarPage:
    """What one calendar fetch returned: appointments, staff events, what was unreadable.

    `rejected` events are in the PIMS but malformed: they are reported per item, and one
    with a readable id still proves its appointment exists (reconciliation never deletes it).
    `staff` holds the blocks and rosters (the schedule mirror keeps them; cases never);
    `staff_unreadable` counts staff events that could not be read (no id, no start, too
    long, or an id repeated with other details): while there is one, the mirror marks no
    staff event removed. `outside_window` counts events the PIMS sent that do not overlap
    the window asked for (ignored); `coerced` counts fields read although their JSON type
    was not the documented one (an id as a string, a flag as 0/1 or "true"). Counts, never data.
    """

    appointments: tuple[Appointment, ...] = ()
    staff: tuple[StaffEvent, ...] = ()
    rejected: tuple[RejectedEvent, ...] = ()
    staff_unreadable: int = 0
    outside_window: int = 0
    coerced: int = 0

    def __len__(self) -> int:
        return len(self.appointments)

    @property
    def listed(self) -> int:
        """Appointment events the PIMS listed: readable ones plus rejected ones."""
        return len(self.appointments) + len(self.rejected)

    @property
    def blocks(self) -> int:
        """How many blocks were read."""
        return sum(1 for event in self.staff if event.kind is StaffKind.BLOCK)

    @property
    def rosters(self) -> int:
        """How many rosters were read."""
        return sum(1 for event in self.staff if event.kind is StaffKind.ROSTER)

    def overlapping(self, start: datetime, end: datetime) -> CalendarPage:
        """The same page without events that do not overlap [start, end).

        A rejected event without a readable start stays: it may belong to any window.
        """
        kept = tuple(a for a in self.appointments if overlaps(a.start, a.end, start, end))
        staff = tuple(e for e in self.staff if overlaps(e.start, e.end, start, end))
        rejected = tuple(r for r in self.rejected if r.overlaps(start, end))
        return replace(self, appointments=kept, staff=staff, rejected=rejected)

    def merged(self, other: CalendarPage) -> CalendarPage:
        """Both pages together; an event (or rejected id) present in both is kept once."""
        seen = {a.appointment_id: a for a in self.appointments}
        seen.update({a.appointment_id: a for a in other.appointments})
        staff = {e.key: e for e in self.staff}
        staff.update({e.key: e for e in other.staff})
        ids = {r.appointment_id for r in self.rejected if r.appointment_id is not None}
        rejected = self.rejected + tuple(
            r for r in other.rejected if r.appointment_id is None or r.appointment_id not in ids
        )
        return CalendarPage(
            appointments=tuple(seen.values()),
            staff=tuple(staff.values()),
            rejected=rejected,
            staff_unreadable=self.staff_unreadable + other.staff_unreadable,
            outside_window=self.outside_window + other.outside_window,
            coerced=self.coerced + other.coerced,
        )
