"""Multi-day stays (boarding, hospitalisation): generated apart from a day's appointments.

A stay starts at 08:00 on every third day (counted from `STAY_EPOCH`) at every clinic and
ends at 17:00 three days later (4 calendar days). Its id comes from its own range, so it
never equals an appointment or consultation id the simulator gives out:
id = `STAY_ID_BASE` × scale + (stay number × clinics + clinic), stay number = days since
`STAY_EPOCH` / 3. Stays have a patient and a client but never a consultation. They are
generated with their own RNG, after the day's appointments, so they add to a day without
changing anything on it.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from pims_sync.simulator.dataset import Clinic, Visit, booked_appointment, id_scale, seeded

STAY_ID_BASE = 1_000_000  # above every other appointment and consultation id (×10 likewise)
STAY_EPOCH = date(2020, 1, 1)  # no stays start before this day
STAY_EVERY_DAYS = 3
STAY_DAYS = 4  # calendar days a stay covers, first and last included
STAY_START, STAY_END = time(8, 0), time(17, 0)
STAY_TYPE_NAMES = ("Boarding", "Hospitalisation")


def stays_starting(seed: int, clinic: Clinic, day: date, clinics: int) -> list[Visit]:
    """The stays of a clinic that start on this day (none, or one every third day)."""
    offset = (day - STAY_EPOCH).days
    if offset < 0 or offset % STAY_EVERY_DAYS:
        return []
    rng = seeded(seed, "stay", clinic.index, day.isoformat())
    number = offset // STAY_EVERY_DAYS
    type_name = rng.choice(STAY_TYPE_NAMES)
    kind = next(k for k in clinic.types if k.name == type_name)
    patient = clinic.patients[rng.choice(sorted(clinic.patients))]
    start = datetime.combine(day, STAY_START)
    visit = booked_appointment(
        rng,
        visit_id=STAY_ID_BASE * id_scale(clinics) + number * clinics + clinic.index,
        clinic=clinic,
        kind=kind,
        patient=patient,
        start=start,
        end=datetime.combine(day + timedelta(days=STAY_DAYS - 1), STAY_END),
    )
    visit.booked_at = start - timedelta(days=rng.randint(2, 21))
    visit.arrival_minutes = 0
    visit.note_seed = rng.randint(0, 2**31)
    visit.stay = True
    return [visit]


def locate_stay(stay_id: int, clinics: int) -> tuple[int, date] | None:
    """(clinic index, first day) of a generated stay id, or None if it is not one."""
    scale = id_scale(clinics)
    number = stay_id - STAY_ID_BASE * scale
    if not 0 <= number < STAY_ID_BASE * scale:
        return None
    stay_number, clinic_index = divmod(number, clinics)
    return clinic_index, STAY_EPOCH + timedelta(days=stay_number * STAY_EVERY_DAYS)
