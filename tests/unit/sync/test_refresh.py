"""Reading days again for availability: start a run, join one, or say why not by the deadline."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from pims_sync.domain.clinics import Clinic
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from pims_sync.sync.refresh import MirrorRefresher
from tests.unit.sync.conftest import CLINIC_ID, NOW, TODAY, World, appointment, make_world

CLINIC = Clinic(id=CLINIC_ID, name="Demo", timezone="America/Los_Angeles")
FIRST, LAST = TODAY + timedelta(days=1), TODAY + timedelta(days=2)


def refresher(world: World, deadline: float = 5) -> MirrorRefresher:
    return MirrorRefresher(
        sync=lambda: world.service,
        runs=world.runs,
        mirror=world.mirror,
        deadline_seconds=deadline,
        poll_seconds=0.01,
    )


async def test_a_run_of_the_days_is_started_and_reads_them() -> None:
    world = make_world(appointment("1", day=FIRST))
    outcome = await refresher(world).refresh(CLINIC, FIRST, LAST, since=NOW)
    assert (outcome.joined, outcome.detail) == (False, None)
    assert await refresher(world).read_since(CLINIC, FIRST, LAST, since=NOW)
    run = await world.runs.active(clinic_id=CLINIC_ID)
    assert run is None
    [record] = await world.runs.history(clinic_id=CLINIC_ID, limit=5)
    assert (str(record.id), record.sync_type) == (outcome.sync_id, SyncType.INBOUND)


async def test_a_run_that_ends_without_the_days_is_followed_by_ours() -> None:
    world = make_world(appointment("1", day=FIRST))
    other = await world.runs.start(
        clinic_id=CLINIC_ID,
        sync_type=SyncType.RECONCILIATION,
        triggered_by=Trigger.SCHEDULER,
        at=NOW,
    )

    async def end_it() -> None:
        await asyncio.sleep(0.1)
        await world.runs.finish(
            run_id=other.id,
            status=RunStatus.COMPLETED,
            counters=RunCounters(),
            error_message=None,
            result=None,
            at=NOW,
        )

    ending = asyncio.create_task(end_it())
    outcome = await refresher(world).refresh(CLINIC, FIRST, LAST, since=NOW)
    await ending
    assert outcome.sync_id != str(other.id)  # ours, after the other one ended
    assert outcome.detail is None
    assert await refresher(world).read_since(CLINIC, FIRST, LAST, since=NOW)


async def test_a_run_that_never_ends_is_waited_for_until_the_deadline() -> None:
    world = make_world()
    stuck = await world.runs.start(
        clinic_id=CLINIC_ID, sync_type=SyncType.FULL, triggered_by=Trigger.SCHEDULER, at=NOW
    )
    outcome = await refresher(world, deadline=0.2).refresh(CLINIC, FIRST, LAST, since=NOW)
    assert (outcome.sync_id, outcome.joined) == (str(stuck.id), True)
    assert outcome.detail == f"the clinic's run {stuck.id} did not end in time"
    assert not await refresher(world).read_since(CLINIC, FIRST, LAST, since=NOW)


async def test_a_run_that_cannot_start_says_why() -> None:
    world = make_world()
    await world.service.shutdown()  # a process going down takes no new runs
    outcome = await refresher(world).refresh(CLINIC, FIRST, LAST, since=NOW)
    assert outcome.sync_id is None
    assert outcome.detail == (
        "no inbound run could start: the service is shutting down; try again shortly"
    )
