"""Read-back of a booking write: which calendar appointment a create made, if one can tell.

IDEXX answers a create with `{"success": true}` and no id. The new appointment is found by
reading the calendar of its slot and comparing it with the read made just before the create:
a new id (absent before) for the same patient, start and column. One such appointment is the
one we made; none means it did not land; two (or an unreadable new event) means we cannot
tell, and a guess would be a lie (docs/booking.md#finding-the-new-appointment).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from pims_sync.domain.appointments import Appointment, CalendarPage
from pims_sync.domain.instants import utc

ONE_MINUTE = timedelta(minutes=1)


@dataclass(frozen=True, slots=True)
class Target:
    """Where the new appointment must show: its patient, its start, its column (any: None)."""

    patient_id: str
    start: datetime
    resource_id: str | None = None

    def matches(self, appointment: Appointment) -> bool:
        """Whether the appointment is one for this patient, start and column.

        A cancelled one counts: the create landed, and someone cancelled it since (booking
        it again would be the double booking this read-back exists to prevent).
        """
        return (
            appointment.patient.id == self.patient_id
            and utc(appointment.start) == utc(self.start)
            and (self.resource_id is None or appointment.room_id == self.resource_id)
        )


@dataclass(frozen=True, slots=True)
class ReadBack:
    """What a read-back saw: the appointment found, or why none can be named."""

    found: Appointment | None = None
    candidates: int = 0
    unreadable: int = 0

    @property
    def verdict(self) -> bool | None:
        """True: exactly one new appointment; False: none at all; None: cannot tell."""
        if self.unreadable:
            return None  # an event we cannot read may be ours (or a second one)
        if self.candidates == 1 and self.found is not None:
            return True
        return False if self.candidates == 0 else None

    def describe(self) -> str:
        """Why there is no answer (ids and counts only)."""
        if self.unreadable:
            return f"{self.unreadable} new calendar event(s) of that slot could not be read"
        if self.candidates > 1:
            return f"{self.candidates} new appointments match the patient, start and column"
        if self.candidates == 0:
            return "no new appointment of the patient at that start and column"
        return "one new appointment matches"


def calendar_ids(page: CalendarPage) -> frozenset[str]:
    """Every appointment id the page lists, readable or not (the "before" of a create)."""
    unreadable = {r.appointment_id for r in page.rejected if r.appointment_id}
    return frozenset({a.appointment_id for a in page.appointments} | unreadable)


def find_created(before: Collection[str], after: CalendarPage, target: Target) -> ReadBack:
    """The appointment a create made: new since `before`, for the target; else why not."""
    known = set(before)
    new = [a for a in after.appointments if a.appointment_id not in known and target.matches(a)]
    # An unreadable event of that start (or of no readable start) that is not known to be
    # an old one may be ours: then nothing can be said.
    moment = utc(target.start)
    unreadable = sum(
        1
        for r in after.rejected
        if (r.appointment_id is None or r.appointment_id not in known)
        and r.overlaps(moment, moment + ONE_MINUTE)
    )
    return ReadBack(
        found=new[0] if len(new) == 1 else None, candidates=len(new), unreadable=unreadable
    )
