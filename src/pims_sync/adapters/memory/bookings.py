"""The in-memory PIMS's bookings: patients, clients, the view, creates and cancels.

Same semantics as IDEXX (and the simulator): no id from a create, overlap and validation
refusals, cancelled appointments kept (shown `Cancelled`), deleted ones gone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from itertools import count
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import (
    Appointment,
    Client,
    Patient,
    StaffEvent,
    StaffKind,
    overlaps,
)
from pims_sync.domain.pims_writes import (
    AppointmentDetails,
    AppointmentRequest,
    AppointmentType,
    AppointmentView,
    CancelAction,
    NewClient,
    NewPatient,
    PatientMatch,
    PimsClient,
    PimsPatient,
    Provider,
    Room,
    check_cancel,
    check_search,
    wall_clock_slot,
)
from pims_sync.errors import PimsNotFoundError, PimsSlotTakenError, PimsWriteRefusedError

CANCELLED = "Cancelled"
BOOKED = "Scheduled"
FIRST_BOOKED_ID = 900_000
FIRST_PERSON_ID = 90_000

DEFAULT_VIEW = AppointmentView(
    slot_minutes=15,
    types=(
        AppointmentType("1", "Default", 1),
        AppointmentType("1001", "Exam", 1),
        AppointmentType("1003", "Vaccines", 1),
        AppointmentType("1004", "Surgery", 1),
    ),
    rooms=(Room("7", "ROOM 1", 1), Room("6", "ROOM 2", 2), Room("8", "ROOM 3", 3)),
    providers=(Provider("2", "Front Desk"), Provider("1000", "DR. A. PATEL")),
)


class FakeBookings:
    """Booking state and rules; FakeProvider adds the calendar, sessions and faults."""

    appointments: dict[str, Appointment]
    staff: dict[tuple[str, StaffKind], StaffEvent]

    def __init__(self) -> None:
        self.view = DEFAULT_VIEW
        self.clients: dict[str, PimsClient] = {}
        self.patients: dict[str, PimsPatient] = {}
        self.cancel_reasons: dict[str, str] = {}
        self.requests: dict[str, AppointmentRequest] = {}  # what each booking asked for
        self.created: list[str] = []  # ids of the appointments booked, in order
        self._ids = count(FIRST_BOOKED_ID)
        self._people = count(FIRST_PERSON_ID)
        for appointment in self.appointments.values():
            self._remember_people(appointment.patient, appointment.client)

    def add_patient(self, patient: PimsPatient, client: PimsClient) -> None:
        """Seed a patient and its owner (found by searches, bookable)."""
        self.clients[client.id] = client
        self.patients[patient.id] = replace(patient, client_id=client.id)

    def _remember_people(self, patient: Patient, client: Client) -> None:
        if client.id is not None and client.id not in self.clients:
            self.clients[client.id] = PimsClient(
                client.id, client.first_name, client.last_name, mobile_phone=client.phone
            )
        if patient.id is not None and patient.id not in self.patients:
            self.patients[patient.id] = PimsPatient(patient.id, patient.name, client_id=client.id)

    # --- reads --------------------------------------------------------------------------------

    def search(self, query: str, limit: int) -> list[PatientMatch]:
        """Patients whose name, id or owner's name holds every word of the query."""
        words = check_search(query, limit).casefold().split()
        found = []
        for patient in self.patients.values():
            client = self.clients.get(patient.client_id or "")
            owner = client.full_name if client else ""
            haystack = f"{patient.name or ''} {patient.id} {owner or ''}".casefold()
            if all(word in haystack for word in words):
                found.append(PatientMatch(patient, client))
                if len(found) >= limit:
                    break
        return found

    def details(self, appointment_id: str) -> AppointmentDetails:
        """An appointment read back by id; PimsNotFoundError when absent or deleted."""
        appointment = self.appointments.get(appointment_id)
        if appointment is None:
            raise PimsNotFoundError(f"Appointment {appointment_id} not found")
        asked = self.requests.get(appointment_id)
        return AppointmentDetails(
            appointment_id=appointment_id,
            start=appointment.start,
            end=appointment.end,
            status=appointment.status,
            cancelled=self._is_cancelled(appointment),
            patient_id=appointment.patient.id,
            client_id=appointment.client.id,
            room_id=self._room_of(appointment),
            provider_id=asked.provider_id if asked else None,
            type_id=asked.type_id if asked else None,
            cancelled_reason=self.cancel_reasons.get(appointment_id),
            booked_by="Front Desk" if asked else None,
            patient_name=appointment.patient.name,
        )

    # --- writes -------------------------------------------------------------------------------

    def register_client(self, new: NewClient) -> PimsClient:
        """A new client with a fresh id."""
        client = PimsClient(
            str(next(self._people)),
            new.first_name.strip(),
            new.last_name.strip(),
            mobile_phone=new.mobile_phone,
            home_phone=new.home_phone,
            work_phone=new.work_phone,
            email=new.email,
        )
        self.clients[client.id] = client
        return client

    def register_patient(self, new: NewPatient, client: PimsClient) -> PimsPatient:
        """A new patient of a known client, with a fresh id."""
        if client.id not in self.clients:
            raise PimsWriteRefusedError(
                "IDEXX Neo patients-create refused the request: unknown client",
                endpoint="patients-create",
                said="unknown client",
                status=400,
            )
        patient = PimsPatient(
            str(next(self._people)),
            new.name.strip(),
            species=new.species,
            breed=new.breed,
            gender=new.gender,
            client_id=client.id,
        )
        self.patients[patient.id] = patient
        return patient

    def book(self, request: AppointmentRequest, zone: ZoneInfo) -> str:
        """Book as IDEXX would (validation, then the overlap check); the new id (not shown)."""
        wall_clock_slot(request, zone)  # one clinic day, as the PIMS's form takes it
        patient = self.patients.get(request.patient_id)
        if patient is None:
            raise _refused("Patient not found")
        self._check_ids(request)
        room = request.room_id or self.view.rooms[0].id
        if self._taken(room, request.start, request.end):
            raise PimsSlotTakenError(
                "IDEXX Neo create refused the booking: the time overlaps another appointment",
                endpoint="create",
                said="overlaps another appointment",
                status=409,
            )
        appointment_id = self._fresh_id()
        client = self.clients.get(patient.client_id or "")
        self.appointments[appointment_id] = Appointment(
            appointment_id=appointment_id,
            start=request.start,
            end=request.end,
            status=BOOKED,
            patient=Patient(id=patient.id, name=patient.name),
            client=Client(
                id=client.id if client else None,
                first_name=client.first_name if client else None,
                last_name=client.last_name if client else None,
            ),
            room_id=room,
            reason=request.reason,
        )
        self.requests[appointment_id] = request
        self.created.append(appointment_id)
        return appointment_id

    def unbook(self, appointment_id: str, reason: str, action: CancelAction) -> None:
        """Cancel (kept, shown cancelled) or delete (gone); PimsNotFoundError when absent."""
        check_cancel(appointment_id, action)
        appointment = self.appointments.get(appointment_id)
        if appointment is None:
            raise PimsNotFoundError(f"Appointment {appointment_id} not found", endpoint="delete")
        if action == "delete":
            del self.appointments[appointment_id]
            self.cancel_reasons.pop(appointment_id, None)
            return
        self.appointments[appointment_id] = replace(appointment, status=CANCELLED)
        self.cancel_reasons[appointment_id] = reason or "Cancelled"

    def live_bookings(self) -> list[Appointment]:
        """Appointments booked through writes and neither cancelled nor deleted."""
        return [
            self.appointments[i]
            for i in self.created
            if i in self.appointments and i not in self.cancel_reasons
        ]

    def _check_ids(self, request: AppointmentRequest) -> None:
        view = self.view
        if request.type_id is not None and view.type(request.type_id) is None:
            raise _refused("Appointment type not found")
        if request.room_id is not None and view.room(request.room_id) is None:
            raise _refused("Room not found")
        if request.provider_id is not None and view.provider(request.provider_id) is None:
            raise _refused("Provider not found")

    def _is_cancelled(self, appointment: Appointment) -> bool:
        status = (appointment.status or "").casefold()
        return appointment.appointment_id in self.cancel_reasons or status == "cancelled"

    def _room_of(self, appointment: Appointment) -> str:
        # An appointment seeded without a column sits in the first one, as IDEXX's default.
        return appointment.room_id or self.view.rooms[0].id

    def _taken(self, room: str, start: datetime, end: datetime) -> bool:
        """Whether a live appointment or a block of this column overlaps [start, end)."""
        for appointment in self.appointments.values():
            if self._is_cancelled(appointment):
                continue
            if self._room_of(appointment) == room and overlaps(
                appointment.start, appointment.end, start, end
            ):
                return True
        return any(
            event.kind is StaffKind.BLOCK
            and (event.resource_id or self.view.rooms[0].id) == room
            and overlaps(event.start, event.end, start, end)
            for event in self.staff.values()
        )

    def _fresh_id(self) -> str:
        while True:
            candidate = str(next(self._ids))
            if candidate not in self.appointments:
                return candidate


def _refused(said: str) -> PimsWriteRefusedError:
    return PimsWriteRefusedError(
        f"IDEXX Neo create refused the request: {said}", endpoint="create", said=said, status=400
    )
