"""Species and breed: read from the consultation by enrichment, kept by later inbound runs."""

from __future__ import annotations

from dataclasses import replace

from pims_sync.domain.appointments import Client, Patient
from pims_sync.domain.case_metadata import merge_enrichment, merge_inbound, pims_changed
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.runs import SyncType
from pims_sync.ports.store import PatientRow
from pims_sync.shapes.results import stats_json
from pims_sync.sync.outcomes import PhaseOutcome

from .conftest import CLINIC_ID, LA, NOW, World, appointment, consultation, make_world

KEY = "pims-appt-idexx-neo-1"


def labrador(consultation_id: str = "c1") -> Consultation:
    return replace(
        consultation(consultation_id), patient_species="Canine", patient_breed="Labrador Retriever"
    )


async def inbound_stats(world: World) -> dict[str, int]:
    outcome = await world.run(SyncType.INBOUND)
    assert isinstance(outcome, PhaseOutcome)
    return stats_json(outcome.stats)


async def patient(world: World) -> PatientRow:
    row = await world.cases.patient_of(clinic_id=CLINIC_ID, external_id=KEY)
    assert row is not None
    return row


def test_enrichment_records_species_and_breed_beside_the_owner() -> None:
    stored = merge_inbound({}, appointment("1"), zone=LA, now=NOW)
    merged = merge_enrichment(stored, labrador(), now=NOW)
    entity = merged["entities"]["patient"]
    assert (entity["species"], entity["breed"]) == ("dog", "Labrador Retriever")
    assert entity["owner"] == stored["entities"]["patient"]["owner"]
    assert entity["name"] == "Rex 1"


def test_enrichment_without_species_leaves_the_patient_alone() -> None:
    stored = merge_inbound({}, appointment("1"), zone=LA, now=NOW)
    merged = merge_enrichment(stored, consultation("c1"), now=NOW)
    assert merged["entities"]["patient"] == stored["entities"]["patient"]
    assert "patient" not in merge_enrichment({}, consultation("c1"), now=NOW)["entities"]


def test_inbound_keeps_enriched_species_unless_the_appointment_has_its_own() -> None:
    enriched = merge_enrichment(
        merge_inbound({}, appointment("1"), zone=LA, now=NOW), labrador(), now=NOW
    )
    kept = merge_inbound(enriched, appointment("1", reason="Other"), zone=LA, now=NOW)
    assert (kept["entities"]["patient"]["species"], kept["entities"]["patient"]["breed"]) == (
        "dog",
        "Labrador Retriever",
    )
    told = appointment("1", patient=Patient(id="p1", name="Rex 1", species="Feline"))
    overridden = merge_inbound(enriched, told, zone=LA, now=NOW)["entities"]["patient"]
    assert (overridden["species"], overridden["breed"]) == ("cat", "Labrador Retriever")
    # Change detection still compares the appointment only: enrichment is not a change.
    assert not pims_changed(enriched, appointment("1"), zone=LA)


async def test_enrichment_fills_the_patients_row_without_blanking_the_owner() -> None:
    world = make_world(appointment("1", consultation_id="c1"), consultations=(labrador(),))
    await world.run(SyncType.INBOUND)
    assert (await patient(world)).species == "unknown"
    await world.run(SyncType.CASES)
    assert await patient(world) == PatientRow(
        name="Rex 1",
        species="dog",
        breed="Labrador Retriever",
        owner_name="Ann Lee",
        owner_phone="555-0100",
        owner_email=None,
    )
    entity = (await world.case("1")).metadata["entities"]["patient"]
    assert (entity["species"], entity["breed"]) == ("dog", "Labrador Retriever")


async def test_inbound_update_keeps_species_and_breed_and_follows_the_phone() -> None:
    world = make_world(appointment("1", consultation_id="c1"), consultations=(labrador(),))
    await world.run(SyncType.FULL)
    world.provider.move(
        "1", client=Client(id="c1", first_name="Ann", last_name="Lee", phone="555-0199")
    )
    assert (await inbound_stats(world))["casesUpdated"] == 1
    row = await patient(world)
    assert (row.species, row.breed, row.owner_phone) == ("dog", "Labrador Retriever", "555-0199")
    entity = (await world.case("1")).metadata["entities"]["patient"]
    assert (entity["species"], entity["breed"]) == ("dog", "Labrador Retriever")
    assert entity["owner"]["phone"] == "555-0199"


async def test_unchanged_appointment_after_enrichment_is_skipped() -> None:
    world = make_world(appointment("1", consultation_id="c1"), consultations=(labrador(),))
    await world.run(SyncType.FULL)
    assert (await inbound_stats(world))["casesSkipped"] == 1
    assert (await patient(world)).species == "dog"
