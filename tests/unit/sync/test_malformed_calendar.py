"""Malformed calendar events: per-item errors in inbound, never a spurious soft-delete."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from pims_sync.domain.appointments import RejectedEvent
from pims_sync.domain.runs import RunStatus, SyncType
from pims_sync.errors import PimsPayloadError
from pims_sync.shapes.results import stats_json
from pims_sync.sync.outcomes import FullOutcome, PhaseOutcome

from .conftest import CLINIC_ID, LA, TODAY, World, appointment, make_world


def at(day_offset: int, hour: int = 9) -> datetime:
    return datetime.combine(TODAY + timedelta(days=day_offset), time(hour), tzinfo=LA)


def bad(index: int, appointment_id: str | None, start: datetime | None = None) -> RejectedEvent:
    return RejectedEvent(index, appointment_id, "start is a list, expected text", start)


async def phase(world: World, sync_type: SyncType, **options: object) -> PhaseOutcome:
    outcome = await world.run(sync_type, **options)
    assert isinstance(outcome, PhaseOutcome)
    return outcome


def past_world(count: int) -> World:
    """`count` appointments over the last three days (inside reconciliation's lookback)."""
    return make_world(
        *(
            appointment(str(i), day=TODAY - timedelta(days=i % 3), hour=8 + i % 8)
            for i in range(count)
        )
    )


async def test_inbound_writes_the_good_ones_and_lists_each_bad_one(world: World) -> None:
    world.provider.rejected = [bad(4, "77", at(1)), bad(9, None)]
    outcome = await phase(world, SyncType.INBOUND)
    assert outcome.success
    assert stats_json(outcome.stats) == {
        "appointmentsFound": 5,
        "casesCreated": 3,
        "casesUpdated": 0,
        "casesSkipped": 0,
        "casesFailed": 2,
        "eventsOutsideWindow": 0,
        "fieldsCoerced": 0,
    }
    errors = outcome.result().wire()["errors"]
    assert errors == [
        {
            "message": "Calendar event #4 (appointment 77) could not be read: "
            "start is a list, expected text",
            "index": 4,
            "reason": "start is a list, expected text",
            "appointmentId": "77",
            "externalId": "pims-appt-idexx-neo-77",
        },
        {
            "message": "Calendar event #9 (no readable id) could not be read: "
            "start is a list, expected text",
            "index": 9,
            "reason": "start is a list, expected text",
        },
    ]
    row = await world.runs.get(clinic_id=CLINIC_ID, run_id=outcome.run_id)
    assert row is not None
    assert (row.status, row.counters.cases_failed, row.counters.appointments_found) == (
        RunStatus.COMPLETED,
        2,
        5,
    )
    assert (row.processed_items, row.total_items, row.progress_percentage) == (5, 5, 100)
    assert row.result is not None
    assert row.result["errors"] == errors


async def test_a_case_whose_event_is_unreadable_is_left_as_it_was(world: World) -> None:
    await phase(world, SyncType.INBOUND)
    before = await world.case("1")
    world.provider.move("1", status="Arrived")
    world.provider.rejected = [bad(0, "1", before.scheduled_at)]
    del world.provider.appointments["1"]  # the feed lists it, but unreadably
    world.clock.at += timedelta(minutes=5)
    outcome = await phase(world, SyncType.INBOUND)
    assert (outcome.stats.cases_failed, outcome.stats.cases_updated) == (1, 0)
    assert await world.case("1") == before


@pytest.mark.parametrize(
    ("readable", "unreadable", "fails"),
    [
        (6, 4, True),  # 40 % and more than 3
        (2, 3, False),  # 60 %, but only 3: per-item errors
        (95, 5, False),  # 5 of 100: per-item errors
        (16, 4, False),  # exactly 20 %: per-item errors
        (15, 4, True),  # 21 %
    ],
)
async def test_a_mostly_unreadable_calendar_fails_the_run_and_writes_nothing(
    readable: int, unreadable: int, fails: bool
) -> None:
    world = make_world(*(appointment(str(i), hour=8, minute=i % 60) for i in range(readable)))
    world.provider.rejected = [bad(100 + i, None) for i in range(unreadable)]
    if not fails:
        outcome = await phase(world, SyncType.INBOUND)
        assert outcome.stats.cases_failed == unreadable
        assert outcome.stats.cases_created == readable
        return
    with pytest.raises(PimsPayloadError, match="calendar payload looks changed") as raised:
        await world.run(SyncType.INBOUND)
    assert f"{unreadable} of {readable + unreadable}" in str(raised.value)
    assert await world.all_cases() == []
    run = (await world.runs.history(clinic_id=CLINIC_ID, limit=1))[0]
    assert run.status is RunStatus.FAILED
    assert run.error_message is not None
    assert "looks changed" in run.error_message


async def test_reconciliation_keeps_a_case_whose_event_is_listed_unreadably() -> None:
    world = past_world(6)
    await phase(world, SyncType.INBOUND, start_date=TODAY - timedelta(days=3))
    kept = world.provider.appointments.pop("1")
    world.provider.rejected = [bad(3, "1", kept.start)]
    del world.provider.appointments["2"]  # really gone
    outcome = await phase(world, SyncType.RECONCILIATION)
    assert outcome.stats.cases_deleted == 1
    assert outcome.result().wire()["deletedCaseIds"] == [str((await world.case("2")).id)]
    assert "reconciliation" not in (await world.case("1")).metadata
    assert "deletionsHeld" not in outcome.result().wire()
    assert outcome.result().wire()["errors"][0]["appointmentId"] == "1"


async def test_an_event_without_a_readable_id_holds_every_deletion_of_the_window() -> None:
    world = past_world(6)
    await phase(world, SyncType.INBOUND, start_date=TODAY - timedelta(days=3))
    del world.provider.appointments["1"]
    del world.provider.appointments["2"]
    world.provider.rejected = [bad(5, None)]
    preview = (await phase(world, SyncType.RECONCILIATION, dry_run=True)).result().wire()
    assert preview["wouldDelete"] == []
    assert preview["deletionsHeld"]["cases"] == 2
    outcome = await phase(world, SyncType.RECONCILIATION)
    result = outcome.result().wire()
    assert outcome.success
    assert result["stats"]["casesDeleted"] == 0
    assert result["deletedCaseIds"] == []
    held = result["deletionsHeld"]
    assert held["cases"] == 2
    assert "no readable id" in held["reason"]
    assert "2 case(s) not deleted" in held["reason"]
    assert [c for c in await world.all_cases() if "reconciliation" in c.metadata] == []
    world.provider.rejected = []  # the calendar reads cleanly again: deletions resume
    assert (await phase(world, SyncType.RECONCILIATION)).stats.cases_deleted == 2


async def test_held_deletions_still_restore_and_update() -> None:
    world = past_world(6)
    await phase(world, SyncType.INBOUND, start_date=TODAY - timedelta(days=3))
    gone = world.provider.appointments.pop("1")
    await phase(world, SyncType.RECONCILIATION)
    assert "reconciliation" in (await world.case("1")).metadata
    world.provider.appointments["1"] = gone
    world.provider.move("3", status="Cancelled")
    world.provider.rejected = [bad(0, None)]
    stats = (await phase(world, SyncType.RECONCILIATION)).stats
    assert (stats.cases_restored, stats.cases_updated, stats.cases_deleted) == (1, 1, 0)


async def test_a_full_run_reuses_inbounds_calendar_under_the_same_rules() -> None:
    world = past_world(6)
    await world.run(SyncType.FULL, lookback_days=3, days_ahead=1)
    first = world.provider.appointments.pop("1")
    del world.provider.appointments["2"]
    world.provider.rejected = [bad(2, "1", first.start), bad(7, None, at(-1, 15))]
    calls = world.provider.calls["calendar"]
    outcome = await world.run(SyncType.FULL, lookback_days=3, days_ahead=1)
    assert isinstance(outcome, FullOutcome)
    assert world.provider.calls["calendar"] == calls + 1  # one fetch, shared
    assert outcome.success
    assert outcome.inbound.stats.cases_failed == 2
    result = outcome.result().wire()["reconciliationResult"]
    assert result["stats"]["casesDeleted"] == 0
    assert result["deletionsHeld"]["cases"] == 1  # "2": missing, but maybe the unreadable one
    assert all("reconciliation" not in c.metadata for c in await world.all_cases())


async def test_an_unidentified_event_outside_the_lookback_holds_nothing() -> None:
    world = past_world(6)
    await world.run(SyncType.FULL, lookback_days=3, days_ahead=3)
    del world.provider.appointments["2"]
    world.provider.rejected = [bad(7, None, at(2))]  # a future day: not reconciliation's
    outcome = await world.run(SyncType.FULL, lookback_days=3, days_ahead=3)
    assert isinstance(outcome, FullOutcome)
    result = outcome.result().wire()["reconciliationResult"]
    assert result["stats"]["casesDeleted"] == 1
    assert "deletionsHeld" not in result
