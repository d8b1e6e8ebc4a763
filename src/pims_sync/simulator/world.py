"""The simulated IDEXX database: generated days cached lazily, plus every change made since."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.dataset import (
    ADDED_APPOINTMENT_ID_BASE,
    ADDED_CONSULTATION_ID_BASE,
    CONSULTATION_ID_OFFSET,
    Client,
    Clinic,
    Patient,
    Visit,
    build_clinic,
    generate_day,
    id_scale,
    locate_appointment,
    seeded,
)
from pims_sync.simulator.errors import UnknownClinicError
from pims_sync.simulator.stays import STAY_DAYS, locate_stay, stays_starting

MAX_RANGE_DAYS = 400  # refuse absurd windows rather than generate years of data


@dataclass
class NewAppointment:
    """What a create (IDEXX multipart form or control API) asks for."""

    start: datetime
    end: datetime
    patient_id: int | None
    type_id: int | None
    vet_id: int | None
    room_id: int | None
    reason: str | None
    booked_by: str


class World:
    """All clinics of one seed; days are generated on first use and then only changed."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.seed = config.seed
        self.clinics = [
            build_clinic(config.seed, index, company_id)
            for index, company_id in enumerate(config.company_ids())
        ]
        self._days: dict[tuple[int, date], list[Visit]] = {}
        self._visits: dict[int, Visit] = {}
        self._added_consultations: dict[int, int] = {}
        self._scale = id_scale(len(self.clinics))
        self._next_added = ADDED_APPOINTMENT_ID_BASE * self._scale
        self._next_person = 90_000 * self._scale
        self._rng = seeded(config.seed, "world")
        # How many days before a window an event that overlaps it may have started: a day's
        # events end on their day, but added or moved ones may last longer.
        self._reach_days = 1
        self.version = 0  # bumped by every change, so rendered answers can be cached safely

    # --- clinics ---------------------------------------------------------------------------

    def clinic(self, company_id: str | None = None) -> Clinic:
        """The clinic with this company id; the first clinic when none is given."""
        if company_id in (None, ""):
            return self.clinics[0]
        for clinic in self.clinics:
            if clinic.company_id == str(company_id):
                return clinic
        raise UnknownClinicError(f"no clinic with company id {company_id}")

    # --- reading the calendar ----------------------------------------------------------------

    def day(self, clinic: Clinic, day: date) -> list[Visit]:
        """The events currently on a clinic-day (deleted ones included; callers filter)."""
        key = (clinic.index, day)
        visits = self._days.get(key)
        if visits is None:
            visits = generate_day(self.seed, clinic, day, len(self.clinics))
            # Stays come last, from their own RNG: the day's appointments are the same
            # whether stays are shown or not.
            visits.extend(stays_starting(self.seed, clinic, day, len(self.clinics)))
            self._days[key] = visits
            for visit in visits:
                self._visits[visit.id] = visit
        return visits

    def between(
        self, clinic: Clinic, start: datetime, end: datetime, *, stays: bool = False
    ) -> list[Visit]:
        """Live events overlapping [start, end], ordered by start then id.

        Multi-day stays are part of the world but shown only when asked for (`stays`).
        """
        if end < start:
            return []
        if (end.date() - start.date()).days > MAX_RANGE_DAYS:
            raise ValueError(f"range longer than {MAX_RANGE_DAYS} days")
        back = max(self._reach_days, STAY_DAYS if stays else 1)
        found = [
            visit
            for day in _days(start.date() - timedelta(days=back), end.date())
            for visit in self.day(clinic, day)
            if not visit.deleted
            and visit.start <= end
            and visit.end >= start
            and (stays or not visit.stay)
        ]
        return sorted(found, key=lambda visit: (visit.start, visit.id))

    def visit(self, appointment_id: int) -> Visit | None:
        """An event by appointment id (generating its day if needed), deleted ones included."""
        if appointment_id not in self._visits:
            clinics = len(self.clinics)
            place = locate_appointment(appointment_id, clinics) or locate_stay(
                appointment_id, clinics
            )
            if place is not None and 0 <= place[0] < len(self.clinics):
                self.day(self.clinics[place[0]], place[1])
        return self._visits.get(appointment_id)

    def visit_for_consultation(self, consultation_id: int) -> Visit | None:
        """The appointment a consultation id was given to, if any."""
        if consultation_id in self._added_consultations:
            return self._visits.get(self._added_consultations[consultation_id])
        visit = self.visit(consultation_id - CONSULTATION_ID_OFFSET * self._scale)
        if visit is None or visit.consultation_id != consultation_id:
            return None
        return visit

    # --- changing the calendar ---------------------------------------------------------------

    def add(self, clinic: Clinic, new: NewAppointment, now: datetime) -> Visit:
        """Book a new appointment (it gets an id from the 'added' range)."""
        self.version += 1
        kind = clinic.appointment_type(new.type_id or 1001) or clinic.types[1]
        patient = clinic.patients.get(new.patient_id) if new.patient_id else None
        if new.patient_id and patient is None:
            raise LookupError(f"no patient {new.patient_id} at this clinic")
        visit_id = self._next_added
        self._next_added += 1
        first_added = ADDED_APPOINTMENT_ID_BASE * self._scale
        consultation_id = ADDED_CONSULTATION_ID_BASE * self._scale + (visit_id - first_added)
        visit = Visit(
            id=visit_id,
            clinic_index=clinic.index,
            kind="appointment",
            start=new.start,
            end=new.end,
            room=clinic.room(new.room_id or 0) or clinic.rooms[0],
            vet=clinic.vet(new.vet_id or 0) or clinic.vets[0],
            type=kind,
            patient_id=patient.id if patient else None,
            client_id=patient.client_id if patient else None,
            reason=new.reason or kind.name.upper(),
            title=None,
            booked_by=new.booked_by,
            booked_at=now,
            notes_delay_minutes=30,
            note_seed=self._rng.randint(0, 2**31),
            consultation_id=consultation_id,
            updated_at=now,
        )
        self.day(clinic, new.start.date()).append(visit)
        self._visits[visit.id] = visit
        self._reach(visit)
        self._added_consultations[consultation_id] = visit.id
        return visit

    def cancel(self, visit: Visit, reason: str, now: datetime) -> None:
        """Soft-cancel: the record stays, with a cancelled status."""
        self.version += 1
        visit.fate = "cancelled"
        visit.cancelled_reason = reason
        visit.cancelled_at = now
        visit.updated_at = now

    def delete(self, visit: Visit, now: datetime) -> None:
        """Hard delete: the event disappears from the feed and from getAppointment."""
        self.version += 1
        visit.deleted = True
        visit.updated_at = now

    def restore(self, visit: Visit, now: datetime) -> None:
        """Undo a hard delete: the same appointment (same id, time, people) is back."""
        self.version += 1
        visit.deleted = False
        visit.updated_at = now

    def move(self, visit: Visit, start: datetime, end: datetime | None, now: datetime) -> None:
        """Reschedule in place (same id), keeping the duration unless an end is given."""
        self.version += 1
        clinic = self.clinics[visit.clinic_index]
        new_end = end or start + (visit.end - visit.start)
        old_day = self.day(clinic, visit.start.date())
        new_day = self.day(clinic, start.date())
        if old_day is not new_day:
            old_day.remove(visit)
            new_day.append(visit)
        visit.start, visit.end, visit.updated_at = start, new_end, now
        self._reach(visit)

    def _reach(self, visit: Visit) -> None:
        """Remember how far back an event that overlaps a window may have started."""
        self._reach_days = max(self._reach_days, (visit.end.date() - visit.start.date()).days)

    def write_notes(self, visit: Visit, notes: str, status: str) -> None:
        """Late notes: the consultation now carries exactly this HTML."""
        self.version += 1
        visit.notes_override = notes
        visit.notes_status_override = status

    # --- people ------------------------------------------------------------------------------

    def add_client(self, clinic: Clinic, client: Client) -> Client:
        """Register a client created through `/clients/create` (fresh id)."""
        self.version += 1
        client.id = self._new_person_id()
        clinic.clients[client.id] = client
        return client

    def add_patient(self, clinic: Clinic, patient: Patient) -> Patient:
        """Register a patient created through `/patients/create` (fresh id)."""
        self.version += 1
        patient.id = self._new_person_id()
        clinic.patients[patient.id] = patient
        return patient

    def change_client(self, client_id: int, changes: dict[str, str | None]) -> Client:
        """A client's new phone and/or e-mail (the phone replaces every number they had)."""
        client = next((c.clients[client_id] for c in self.clinics if client_id in c.clients), None)
        if client is None:
            raise LookupError(f"no client {client_id}")
        self.version += 1
        if "phone" in changes:
            # One number, so every shape (feed, page-data, search) shows the same phone.
            client.mobile_phone, client.home_phone, client.work_phone = changes["phone"], None, None
        if "email" in changes:
            client.email = changes["email"]
        return client

    def _new_person_id(self) -> int:
        self._next_person += 1
        return self._next_person


def _days(first: date, last: date) -> Iterator[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)
