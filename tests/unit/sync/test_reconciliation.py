"""Reconciliation: soft-delete with marker, restore, cancelled status, guard, dry run."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pims_sync.domain.outbox import EventType
from pims_sync.domain.runs import SyncType
from pims_sync.errors import PimsUnavailableError, ReconciliationGuardError
from pims_sync.sync.outcomes import PhaseOutcome

from .conftest import CLINIC_ID, TODAY, World, appointment, make_world, overwrite


async def reconcile(world: World, **options: object) -> PhaseOutcome:
    outcome = await world.run(SyncType.RECONCILIATION, **options)
    assert isinstance(outcome, PhaseOutcome)
    return outcome


def past_world(count: int = 12) -> World:
    return make_world(
        *(appointment(str(i), day=TODAY - timedelta(days=i % 5), hour=9) for i in range(count))
    )


async def test_deleted_appointment_is_soft_deleted_with_marker(world: World) -> None:
    await world.run(SyncType.INBOUND)
    del world.provider.appointments["1"]
    outcome = await reconcile(world)
    result = outcome.result().wire()
    assert result["stats"] == {
        "casesChecked": 2,
        "casesDeleted": 1,
        "casesUpdated": 0,
        "casesRestored": 0,
        "eventsOutsideWindow": 0,
        "fieldsCoerced": 0,
    }
    case = await world.case("1")
    assert result["deletedCaseIds"] == [str(case.id)]
    assert case.status == "reviewed"
    marker = case.metadata["reconciliation"]
    assert marker["softDeleted"] is True
    assert marker["reason"] == "removed_from_pims"
    assert marker["syncId"] == str(outcome.run_id)
    assert marker["previousStatus"] == "draft"
    assert (await world.case("2")).status == "draft"
    again = await reconcile(world)
    assert again.stats.cases_deleted == 0  # not counted twice


async def test_reappeared_appointment_is_restored(world: World) -> None:
    await world.run(SyncType.INBOUND)
    await overwrite(world, await world.case("1"), status="ongoing")
    kept = world.provider.appointments.pop("1")
    await reconcile(world)
    world.provider.appointments["1"] = kept
    stats = (await reconcile(world)).stats
    assert stats.cases_restored == 1
    case = await world.case("1")
    assert "reconciliation" not in case.metadata
    assert case.status == "ongoing"


async def test_cancelled_appointment_updates_the_status(world: World) -> None:
    await world.run(SyncType.INBOUND)
    world.provider.move("2", status="No Show")
    stats = (await reconcile(world)).stats
    assert (stats.cases_updated, stats.cases_deleted) == (1, 0)
    assert (await world.case("2")).status == "reviewed"


async def test_pims_failure_deletes_nothing(world: World) -> None:
    await world.run(SyncType.INBOUND)
    world.provider.fail_next("calendar", PimsUnavailableError("down", endpoint="calendar"))
    with pytest.raises(PimsUnavailableError):
        await reconcile(world)
    assert all("reconciliation" not in c.metadata for c in await world.all_cases())
    run = (await world.runs.history(clinic_id=CLINIC_ID, limit=1))[0]
    assert run.status == "failed"
    assert run.error_message == "down"


async def test_empty_calendar_is_refused_unless_forced(world: World) -> None:
    await world.run(SyncType.INBOUND)
    world.provider.appointments.clear()
    with pytest.raises(ReconciliationGuardError, match="force") as raised:
        await reconcile(world)
    assert raised.value.code == "reconciliation_guard"
    assert all("reconciliation" not in c.metadata for c in await world.all_cases())
    assert (await reconcile(world, force=True)).stats.cases_deleted == 2


async def test_deleting_more_than_half_and_more_than_five_is_refused() -> None:
    world = past_world(12)
    await world.run(SyncType.INBOUND, start_date=TODAY - timedelta(days=7), end_date=TODAY)
    for i in range(7):
        del world.provider.appointments[str(i)]
    with pytest.raises(ReconciliationGuardError, match="7 of 12"):
        await reconcile(world)
    assert (await reconcile(world, force=True)).stats.cases_deleted == 7


async def test_dry_run_reports_and_writes_nothing(world: World) -> None:
    await world.run(SyncType.INBOUND)
    before = await world.all_cases()
    seen = await world.cases.events.last_seq(clinic_id=CLINIC_ID)
    del world.provider.appointments["1"]
    world.provider.move("2", status="Cancelled")
    result = (await reconcile(world, dry_run=True)).result().wire()
    # No case event: only the run's own end.
    after = await world.cases.events.after(clinic_id=CLINIC_ID, after_seq=seen, limit=10)
    assert [e.type for e in after] == [EventType.SYNC_COMPLETED]
    assert result["dryRun"] is True
    assert [c["externalId"] for c in result["wouldDelete"]] == ["pims-appt-idexx-neo-1"]
    assert result["wouldDelete"][0]["reason"] == "removed_from_pims"
    assert [c["externalId"] for c in result["wouldUpdate"]] == ["pims-appt-idexx-neo-2"]
    assert result["wouldRestore"] == []
    assert result["stats"]["casesDeleted"] == 0
    assert await world.all_cases() == before


async def test_only_pims_cases_in_the_lookback_are_checked(world: World) -> None:
    await world.run(SyncType.INBOUND)
    # Case 3 is in two days: outside the lookback, never deleted by it.
    world.provider.appointments.pop("3")
    stats = (await reconcile(world, lookback_days=1)).stats
    assert (stats.cases_checked, stats.cases_deleted) == (2, 0)
