"""With many clinics (the cap is 100) ids stay unique over the dates docs/simulator.md names."""

from __future__ import annotations

from dataclasses import replace
from datetime import date, datetime

import pytest
import typer
from typer.testing import CliRunner

from pims_sync.cli import simulator as command
from pims_sync.simulator import server
from pims_sync.simulator.config import MAX_CLINICS, SimulatorConfig
from pims_sync.simulator.dataset import (
    ADDED_APPOINTMENT_ID_BASE,
    ADDED_CONSULTATION_ID_BASE,
    APPOINTMENT_ID_BASE,
    CONSULTATION_ID_OFFSET,
    SLOTS_PER_CLINIC_DAY,
    appointment_id,
    id_scale,
    locate_appointment,
)
from pims_sync.simulator.world import NewAppointment, World

# (clinics, first and last day whose ids are unique), as docs/simulator.md states them.
SPANS = [
    (1, date(2020, 1, 20), date(2041, 6, 22)),
    (10, date(2025, 5, 29), date(2027, 7, 19)),
    (50, date(2024, 10, 24), date(2029, 2, 3)),
    (100, date(2025, 5, 29), date(2027, 7, 19)),
]


def wall(text: str) -> datetime:
    """A clinic wall-clock time (the simulator works on naive wall clocks)."""
    return datetime.fromisoformat(text)


def test_ranges_grow_tenfold_past_ten_clinics() -> None:
    assert [id_scale(n) for n in (1, 10, 11, 50, 100)] == [1, 1, 10, 10, 10]
    # Up to ten clinics the ids are the documented 6-digit ones, unchanged.
    assert appointment_id(day=date(2026, 1, 1), clinic_index=0, clinics=10, slot=0) == 400_000


@pytest.mark.parametrize(("clinics", "first", "last"), SPANS)
def test_ids_are_unique_and_located_over_the_documented_span(
    clinics: int, first: date, last: date
) -> None:
    scale = id_scale(clinics)
    lowest = appointment_id(day=first, clinic_index=0, clinics=clinics, slot=0)
    highest = appointment_id(
        day=last, clinic_index=clinics - 1, clinics=clinics, slot=SLOTS_PER_CLINIC_DAY - 1
    )
    # Ids grow with (day, clinic, slot): inside the generated range they are all distinct.
    assert (APPOINTMENT_ID_BASE - 100_000) * scale <= lowest
    assert highest < ADDED_APPOINTMENT_ID_BASE * scale
    # Consultation ids (appointment id + offset) stay below the added consultations' range.
    assert highest + CONSULTATION_ID_OFFSET * scale < ADDED_CONSULTATION_ID_BASE * scale
    assert locate_appointment(lowest, clinics) == (0, first)
    assert locate_appointment(highest, clinics) == (clinics - 1, last)


def test_fifty_clinics_today_have_distinct_seven_digit_ids() -> None:
    world = World(SimulatorConfig(clinics=50))
    today = date(2026, 11, 27)
    seen: dict[int, int] = {}
    consultations: set[int] = set()
    for clinic in world.clinics:
        for visit in world.day(clinic, today):
            assert visit.id not in seen
            seen[visit.id] = clinic.index
            if visit.consultation_id is not None:
                assert visit.consultation_id not in consultations
                consultations.add(visit.consultation_id)
    assert min(seen) >= 1_000_000  # 7 digits with more than ten clinics
    # A fresh world finds every generated appointment and consultation by id alone.
    fresh = World(SimulatorConfig(clinics=50))
    last = max(seen)
    found = fresh.visit(last)
    assert found is not None
    assert found.clinic_index == seen[last]
    consultation = max(consultations)
    visit = fresh.visit_for_consultation(consultation)
    assert visit is not None
    assert visit.consultation_id == consultation
    # Added appointments and created people never reuse a generated id.
    added = fresh.add(
        fresh.clinics[49],
        NewAppointment(
            start=wall("2026-11-27 09:00"),
            end=wall("2026-11-27 09:15"),
            patient_id=None,
            type_id=None,
            vet_id=None,
            room_id=None,
            reason=None,
            booked_by="test",
        ),
        now=wall("2026-11-27 08:00"),
    )
    assert added.id not in seen
    assert added.consultation_id not in consultations
    people = {p for c in fresh.clinics for p in (*c.clients, *c.patients)}
    created = fresh.add_client(
        fresh.clinics[49], replace(next(iter(fresh.clinics[0].clients.values())))
    )
    assert created.id > max(people)


def root() -> typer.Typer:
    app = typer.Typer()
    command.register(app)

    @app.command("other")
    def other() -> None:  # a second command keeps `simulator` a sub-command
        """Unused."""

    return app


def test_the_cli_accepts_up_to_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[SimulatorConfig] = []
    monkeypatch.setattr(server, "serve", lambda config: started.append(config))
    ok = CliRunner().invoke(root(), ["simulator", "--clinics", str(MAX_CLINICS)])
    assert ok.exit_code == 0, ok.output
    assert started[0].clinics == MAX_CLINICS == 100
    assert f"company_id {1001 + MAX_CLINICS - 1}" in ok.output
    refused = CliRunner().invoke(root(), ["simulator", "--clinics", str(MAX_CLINICS + 1)])
    assert refused.exit_code == 2
    with pytest.raises(ValueError, match="between 1 and 100"):
        SimulatorConfig(clinics=MAX_CLINICS + 1)
