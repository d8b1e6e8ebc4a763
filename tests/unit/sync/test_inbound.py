"""Inbound: create, update only on change, merge metadata, follow the PIMS status."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.domain.appointments import Client, Patient
from pims_sync.domain.runs import SyncType
from pims_sync.errors import PimsPayloadError, PimsUnavailableError
from pims_sync.sync.outcomes import PhaseOutcome

from .conftest import CLINIC_ID, TODAY, World, appointment, make_world, overwrite


async def inbound(world: World, **options: object) -> PhaseOutcome:
    outcome = await world.run(SyncType.INBOUND, **options)
    assert isinstance(outcome, PhaseOutcome)
    return outcome


async def test_first_run_creates_cases_with_ids_source_and_patients(world: World) -> None:
    result = (await inbound(world)).result().wire()
    assert result["success"] is True
    assert result["stats"] == {
        "appointmentsFound": 3,
        "casesCreated": 3,
        "casesUpdated": 0,
        "casesSkipped": 0,
        "casesFailed": 0,
        "eventsOutsideWindow": 0,
        "fieldsCoerced": 0,
    }
    assert set(result) == {"success", "syncId", "stats", "durationMs", "timestamp"}
    case = await world.case("2")
    assert case.source == "pims:idexx-neo"
    assert case.external_id == "pims-appt-idexx-neo-2"
    assert (case.status, case.type) == ("draft", "checkup")
    assert case.metadata["syncSource"] == "IDEXX Neo"
    assert case.metadata["pimsAppointment"]["consultationId"] == "c2"
    assert case.metadata["pimsAppointment"]["startTime"] == "2026-03-09T10:00:00-07:00"
    assert case.metadata["entities"]["patient"]["owner"]["phone"] == "555-0100"
    patient = await world.cases.patient_of(clinic_id=CLINIC_ID, external_id=case.external_id)
    assert patient is not None
    assert (patient.name, patient.owner_name) == ("Rex 2", "Ann Lee")


async def test_second_identical_run_changes_nothing(world: World) -> None:
    await inbound(world)
    before = {c.external_id: c for c in await world.all_cases()}
    world.clock.at += timedelta(hours=1)
    stats = (await inbound(world)).stats
    assert (stats.cases_created, stats.cases_updated, stats.cases_skipped) == (0, 0, 3)
    after = {c.external_id: c for c in await world.all_cases()}
    assert {k: c.metadata["syncedAt"] for k, c in after.items()} == {
        k: c.metadata["syncedAt"] for k, c in before.items()
    }


@pytest.mark.parametrize(
    ("changes", "check"),
    [
        ({"start": datetime(2026, 3, 9, 15, 30, tzinfo=UTC)}, "time"),
        ({"client": Client(id="c1", first_name="Ann", last_name="Lee", phone="555-0199")}, "phone"),
        ({"status": "Cancelled"}, "status"),
        ({"patient": Patient(id="p1", name="Max")}, "patient"),
        ({"room_id": "7"}, "room"),
        ({"consultation_id": "c9"}, "consultation"),
    ],
)
async def test_exactly_the_changed_case_is_updated(
    world: World, changes: dict[str, object], check: str
) -> None:
    await inbound(world)
    world.provider.move("1", **changes)
    stats = (await inbound(world)).stats
    assert (stats.cases_updated, stats.cases_skipped) == (1, 2), check
    case = await world.case("1")
    if check == "time":
        assert case.scheduled_at == datetime(2026, 3, 9, 15, 30, tzinfo=UTC)
    if check == "status":
        assert case.status == "reviewed"
    if check == "phone":
        assert case.metadata["entities"]["patient"]["owner"]["phone"] == "555-0199"


async def test_update_keeps_enrichment_and_foreign_keys(world: World) -> None:
    await inbound(world)
    stored = await world.case("2")
    extra = {
        "pimsConsultation": {"id": "c2", "isFinal": True},
        "dischargeSummary": "Rest",
        "enrichedAt": "x",
        "callIntelligence": {"score": 3},
        "somethingElse": [1, 2],
    }
    entities = dict(stored.metadata["entities"])
    entities["clinical"] = {"clinicalNotes": "n", "visitReason": "Limping"}
    await overwrite(world, stored, metadata={**stored.metadata, **extra, "entities": entities})
    world.provider.move("2", reason="Other reason")
    assert (await inbound(world)).stats.cases_updated == 1
    metadata = (await world.case("2")).metadata
    for key, value in extra.items():
        assert metadata[key] == value
    assert metadata["entities"]["clinical"] == {"clinicalNotes": "n", "visitReason": "Limping"}
    assert metadata["pimsAppointment"]["reason"] == "Other reason"


async def test_status_follows_the_pims_only_while_nobody_else_changed_it(world: World) -> None:
    await inbound(world)
    await overwrite(world, await world.case("1"), status="completed")
    world.provider.move("1", status="Arrived")
    world.provider.move("2", status="Arrived")
    await inbound(world)
    assert (await world.case("1")).status == "completed"  # another writer's status kept
    assert (await world.case("2")).status == "ongoing"  # followed the PIMS


async def test_true_instant_across_the_dst_change() -> None:
    day = TODAY - timedelta(days=1)  # 2026-03-08, clocks go forward at 02:00
    world = make_world(appointment("7", day=day, hour=1, minute=30))
    await inbound(world, start_date=day, end_date=day)
    assert (await world.case("7")).scheduled_at == datetime(2026, 3, 8, 9, 30, tzinfo=UTC)


async def test_default_window_is_the_clinic_today_plus_days_ahead() -> None:
    # Clinic today is 9 March (UTC is already the 10th): a 9 March evening visit counts,
    # and the window ends after 16 March, clinic time.
    world = make_world(
        appointment("a", hour=21),
        appointment("b", day=TODAY + timedelta(days=7), hour=23, minute=30),
        appointment("c", day=TODAY + timedelta(days=8), hour=0, minute=15),
        appointment("d", day=TODAY - timedelta(days=1), hour=23),
    )
    outcome = await inbound(world)
    assert outcome.stats.appointments_found == 2
    assert {c.external_id[-1] for c in await world.all_cases()} == {"a", "b"}


async def test_long_windows_are_fetched_in_chunks_of_31_days() -> None:
    world = make_world(appointment("1"))
    await inbound(world, start_date=TODAY, end_date=TODAY + timedelta(days=70))
    assert world.provider.calls["calendar"] == 3


async def test_batches_write_every_case() -> None:
    world = make_world(*(appointment(str(i), hour=8 + i % 10) for i in range(25)), batch_size=10)
    assert (await inbound(world)).stats.cases_created == 25


async def test_pims_failure_fails_the_run_and_writes_nothing(world: World) -> None:
    world.provider.fail_next("calendar", PimsUnavailableError("down", endpoint="calendar"))
    with pytest.raises(PimsUnavailableError) as raised:
        await inbound(world)
    assert raised.value.context["sync_id"]
    assert await world.all_cases() == []


async def test_implausible_calendar_fails_without_writing() -> None:
    many = [appointment(str(i), hour=9) for i in range(1200)]
    world = make_world(*many)
    with pytest.raises(PimsPayloadError):
        await inbound(world, end_date=TODAY)
    assert await world.all_cases() == []
