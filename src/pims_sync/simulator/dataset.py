"""The deterministic world: clinics, clients, patients and each day's calendar, from a seed."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from pims_sync.simulator import vocabulary as words

# Appointment ids are computed, not counted, so that a day generated lazily gets
# the same ids whatever was generated before it: id = BASE + (day * clinics + clinic) * SLOTS + k.
APPOINTMENT_ID_BASE = 400_000
SLOTS_PER_CLINIC_DAY = 46
CONSULTATION_ID_OFFSET = 330_000  # consultation id = appointment id + offset (700 000s)
ADDED_APPOINTMENT_ID_BASE = 680_000  # appointments added through the control API or create
ADDED_CONSULTATION_ID_BASE = 990_000
EPOCH = date(2026, 1, 1)
# Up to ten clinics the ranges above hold; with more clinics every range (and the first id
# of created people) is ten times larger, so unique ids span the same dates as for ten.
CLINICS_PER_ID_SCALE = 10
OPENING_HOUR, CLOSING_HOUR = 8, 19
CLIENTS_PER_CLINIC = 420
PEOPLE_ID_STRIDE = 2_000  # clients and patients of clinic i start at i * stride (5-digit ids)
# How often a day's appointments are of each type (the first types; stay types are never drawn).
DAY_TYPE_WEIGHTS = (1, 6, 2, 4, 1, 2, 1, 4, 1)


def seeded(*parts: object) -> random.Random:
    """A repeatable RNG named by its parts: same seed, same data, whatever ran before."""
    return random.Random(":".join(str(part) for part in parts))  # noqa: S311 - data, not secrets


@dataclass(frozen=True)
class Room:
    """A calendar column."""

    id: int
    name: str
    position: int


@dataclass(frozen=True)
class Vet:
    """A provider (user) of the clinic."""

    id: int
    name: str
    email: str
    license_number: str
    user_type: str = "Vet"


@dataclass(frozen=True)
class AppointmentType:
    """An appointment type as getAppointmentView lists it."""

    id: int
    name: str
    color: str
    minutes: int


@dataclass
class Client:
    """A pet owner; some have no phone or no e-mail."""

    id: int
    title: str
    first_name: str
    last_name: str
    email: str | None
    mobile_phone: str | None
    home_phone: str | None
    work_phone: str | None
    street: str
    city: str
    state: str
    zip: str
    registered_at: datetime


@dataclass
class Patient:
    """A pet, owned by one client."""

    id: int
    name: str
    species: tuple[str, str]
    breed: tuple[str, str]
    gender: tuple[str, str]
    color: str
    date_of_birth: date
    weight_kg: float
    client_id: int


@dataclass
class Clinic:
    """One IDEXX company: its login, columns, vets, types and people."""

    index: int
    company_id: str
    name: str
    branch_id: int
    sap_id: int
    rooms: list[Room]
    vets: list[Vet]
    types: list[AppointmentType]
    clients: dict[int, Client] = field(default_factory=dict)
    patients: dict[int, Patient] = field(default_factory=dict)

    def room(self, room_id: int) -> Room | None:
        """The room with this id, if the clinic has it."""
        return next((room for room in self.rooms if room.id == room_id), None)

    def vet(self, vet_id: int) -> Vet | None:
        """The vet with this id, if the clinic has one."""
        return next((vet for vet in self.vets if vet.id == vet_id), None)

    def appointment_type(self, type_id: int) -> AppointmentType | None:
        """The appointment type with this id, if the clinic has it."""
        return next((kind for kind in self.types if kind.id == type_id), None)


@dataclass
class Visit:
    """One calendar event (appointment, block or roster) plus its generated future."""

    id: int
    clinic_index: int
    kind: str  # "appointment" | "block" | "roster"
    start: datetime
    end: datetime
    room: Room
    vet: Vet
    type: AppointmentType | None
    patient_id: int | None
    client_id: int | None
    reason: str | None
    title: str | None  # blocks and rosters only
    booked_by: str
    booked_at: datetime
    fate: str = "normal"  # "normal" | "no_show" | "cancelled": decided at booking
    arrival_minutes: int = 10  # how long before the start the patient walks in
    notes_delay_minutes: int = 20  # how long after the end the vet writes the notes
    note_seed: int = 0
    consultation_id: int | None = None  # set only for appointments (exists once the day comes)
    cancelled_reason: str | None = None
    cancelled_at: datetime | None = None
    deleted: bool = False
    notes_override: str | None = None
    notes_status_override: str | None = None
    updated_at: datetime | None = None
    stay: bool = False  # a multi-day stay (boarding, hospitalisation): see stays.py


def build_clinic(seed: int, index: int, company_id: str) -> Clinic:
    """Generate one clinic and its people; same seed and index → same clinic."""
    rng = seeded(seed, "clinic", index)
    vets_names = rng.sample(words.VETS, 3)
    vets = [
        Vet(
            id=1000 + position,
            name=name,
            email=f"{name.split()[-1].lower()}@example-vet.com",
            license_number=f"VET{rng.randint(10000, 99999)}",
        )
        for position, name in enumerate(vets_names)
    ]
    rooms = [Room(7, "ROOM 1", 1), Room(6, "ROOM 2", 2), Room(8, "ROOM 3", 3), Room(9, "EXAM", 4)]
    # Some columns are named after doctors (docs/idexx.md#appointment-view).
    rooms.append(Room(10, vets[0].name, 5))
    clinic = Clinic(
        index=index,
        company_id=company_id,
        name=words.CLINIC_NAMES[index % len(words.CLINIC_NAMES)]
        + ("" if index < len(words.CLINIC_NAMES) else f" {index + 1}"),
        branch_id=index + 1,
        sap_id=100_000 + rng.randint(0, 99_999),
        rooms=rooms,
        vets=vets,
        types=[AppointmentType(*item) for item in words.APPOINTMENT_TYPES],
    )
    _add_people(clinic, rng)
    return clinic


def _add_people(clinic: Clinic, rng: random.Random) -> None:
    client_base = 10_000 + clinic.index * PEOPLE_ID_STRIDE
    patient_base = 40_000 + clinic.index * PEOPLE_ID_STRIDE
    for number in range(CLIENTS_PER_CLINIC):
        client = _client(rng, client_base + number)
        clinic.clients[client.id] = client
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3))):
            patient = _patient(rng, patient_base + len(clinic.patients), client.id)
            clinic.patients[patient.id] = patient


def _phone(rng: random.Random) -> str:
    area, middle, last = rng.choice(("408", "669", "650")), "555", f"{rng.randint(100, 199):04d}"
    # Two formats seen in the real data: dashed and bare ten digits.
    return f"{area}-{middle}-{last}" if rng.random() < 0.8 else f"{area}{middle}{last}"


def _ascii(text: str) -> str:
    """E-mail addresses stay ASCII even when the name has accents."""
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(char for char in decomposed if char.isascii())


def _client(rng: random.Random, client_id: int) -> Client:
    first, last = rng.choice(words.CLIENT_FIRST_NAMES), rng.choice(words.CLIENT_LAST_NAMES)
    contact = rng.random()
    has_phone, has_email = contact > 0.05, contact < 0.03 or contact > 0.12
    city, zip_code = rng.choice(words.CITIES)
    mobile = _phone(rng) if has_phone and rng.random() < 0.85 else None
    home = _phone(rng) if has_phone and (mobile is None or rng.random() < 0.2) else None
    plain = _ascii(f"{first}.{last}".lower().replace("'", ""))
    return Client(
        id=client_id,
        title=rng.choice(words.TITLES),
        first_name=first,
        last_name=last,
        email=f"{plain}{client_id % 97}@example.com" if has_email else None,
        mobile_phone=mobile,
        home_phone=home,
        work_phone=_phone(rng) if has_phone and rng.random() < 0.1 else None,
        street=f"{rng.randint(1, 999)} {rng.choice(words.STREETS)}",
        city=city,
        state="CA",
        zip=zip_code,
        registered_at=datetime.combine(date(2018, 1, 1), time())
        + timedelta(minutes=rng.randint(0, 4_000_000)),
    )


def _patient(rng: random.Random, patient_id: int, client_id: int) -> Patient:
    species_id, species_name, breeds = rng.choice(words.SPECIES[:2] * 4 + words.SPECIES[2:])
    breed = rng.choice(breeds)
    return Patient(
        id=patient_id,
        name=rng.choice(words.PET_NAMES),
        species=(species_id, species_name),
        breed=breed,
        gender=rng.choice(words.GENDERS),
        color=rng.choice(words.COLORS),
        date_of_birth=date(2010, 1, 1) + timedelta(days=rng.randint(0, 5800)),
        weight_kg=round(rng.uniform(2.5, 42.0), 1),
        client_id=client_id,
    )


def id_scale(clinics: int) -> int:
    """What every id range is multiplied by: 1 up to 10 clinics, 10 up to 100, and so on."""
    scale = 1
    while clinics > CLINICS_PER_ID_SCALE * scale:
        scale *= 10
    return scale


def appointment_id(*, day: date, clinic_index: int, clinics: int, slot: int) -> int:
    """The id of the slot-th event of a clinic-day (see the formula at the top)."""
    clinic_day = (day - EPOCH).days * clinics + clinic_index
    return APPOINTMENT_ID_BASE * id_scale(clinics) + clinic_day * SLOTS_PER_CLINIC_DAY + slot


def locate_appointment(appointment: int, clinics: int) -> tuple[int, date] | None:
    """(clinic index, day) a generated appointment id belongs to, or None if not generated."""
    scale = id_scale(clinics)
    lowest, added = (APPOINTMENT_ID_BASE - 100_000) * scale, ADDED_APPOINTMENT_ID_BASE * scale
    if not lowest <= appointment < added:
        return None
    clinic_day, _slot = divmod(appointment - APPOINTMENT_ID_BASE * scale, SLOTS_PER_CLINIC_DAY)
    day_number, clinic_index = divmod(clinic_day, clinics)
    return clinic_index, EPOCH + timedelta(days=day_number)


def generate_day(seed: int, clinic: Clinic, day: date, clinics: int) -> list[Visit]:
    """The day's calendar as first booked: ~40-45 events incl. rosters and blocks."""
    rng = seeded(seed, "day", clinic.index, day.isoformat())
    visits: list[Visit] = []

    def next_id() -> int:
        return appointment_id(day=day, clinic_index=clinic.index, clinics=clinics, slot=len(visits))

    opening = datetime.combine(day, datetime.min.time()).replace(hour=OPENING_HOUR)
    closing = opening.replace(hour=CLOSING_HOUR)
    for vet, room in zip(clinic.vets[:2], clinic.rooms[3:], strict=False):
        visits.append(_staff_event(next_id(), clinic, "roster", opening, closing, vet, room))
    for _ in range(rng.randint(1, 2)):
        start = opening + timedelta(minutes=15 * rng.randint(4, 36))
        length = timedelta(minutes=rng.choice((30, 60, 120, 180)))
        vet, room = rng.choice(clinic.vets), rng.choice(clinic.rooms)
        block = _staff_event(
            next_id(), clinic, "block", start, min(start + length, closing), vet, room
        )
        block.title = rng.choice(words.BLOCK_TITLES)
        visits.append(block)
    for _ in range(rng.randint(37, 41)):
        visits.append(_appointment(rng, next_id(), clinic, opening))
    for visit in visits:
        if visit.kind == "appointment":
            visit.consultation_id = visit.id + CONSULTATION_ID_OFFSET * id_scale(clinics)
    return visits


def _staff_event(
    visit_id: int, clinic: Clinic, kind: str, start: datetime, end: datetime, vet: Vet, room: Room
) -> Visit:
    return Visit(
        id=visit_id,
        clinic_index=clinic.index,
        kind=kind,
        start=start,
        end=end,
        room=room,
        vet=vet,
        type=None,
        patient_id=None,
        client_id=None,
        reason=None,
        title=f"{vet.name} - Roster" if kind == "roster" else None,
        booked_by="Practice Manager",
        booked_at=start - timedelta(days=14),
    )


def _appointment(rng: random.Random, visit_id: int, clinic: Clinic, opening: datetime) -> Visit:
    kind = rng.choices(clinic.types[: len(DAY_TYPE_WEIGHTS)], weights=DAY_TYPE_WEIGHTS)[0]
    start = opening + timedelta(minutes=15 * rng.randint(0, 43))
    closing = opening.replace(hour=CLOSING_HOUR)
    end = min(start + timedelta(minutes=kind.minutes), closing)
    patient = clinic.patients[rng.choice(list(clinic.patients))]
    roll = rng.random()
    fate = "cancelled" if roll < 0.04 else "no_show" if roll < 0.09 else "normal"
    late = rng.random() < 0.2  # about one note in five is written hours after the visit
    visit = booked_appointment(
        rng, visit_id=visit_id, clinic=clinic, kind=kind, patient=patient, start=start, end=end
    )
    # Drawn after the booking, in this order, so a seed keeps giving the same days.
    visit.booked_at = start - timedelta(minutes=rng.randint(60, 60 * 24 * 30))
    visit.fate = fate
    visit.arrival_minutes = rng.randint(0, 15)
    visit.notes_delay_minutes = rng.randint(120, 480) if late else rng.randint(5, 40)
    visit.note_seed = rng.randint(0, 2**31)
    if fate == "cancelled":
        visit.cancelled_reason = "Cancelled via phone"
        visit.cancelled_at = start - timedelta(hours=rng.randint(2, 48))
    return visit


def booked_appointment(
    rng: random.Random,
    *,
    visit_id: int,
    clinic: Clinic,
    kind: AppointmentType,
    patient: Patient,
    start: datetime,
    end: datetime,
) -> Visit:
    """A patient's appointment; room, vet, reason and booker are drawn from `rng` in order."""
    return Visit(
        id=visit_id,
        clinic_index=clinic.index,
        kind="appointment",
        start=start,
        end=end,
        room=rng.choice(clinic.rooms[:4]),
        vet=rng.choice(clinic.vets),
        type=kind,
        patient_id=patient.id,
        client_id=patient.client_id,
        reason=rng.choice(words.REASONS_BY_TYPE[kind.name]),
        title=None,
        booked_by=rng.choice(words.FRONT_DESK),
        booked_at=start,
    )
