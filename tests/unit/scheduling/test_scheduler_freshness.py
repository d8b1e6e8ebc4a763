"""The scheduler and freshness, on the memory adapters: paused clinics do not fire, and the
periodic check turns a clinic whose runs stopped stale (announced once) without a run."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.health import MemoryClinicHealth
from pims_sync.adapters.memory.schedules import (
    MemoryFireStore,
    MemoryRunRecovery,
    MemoryScheduleStore,
)
from pims_sync.adapters.memory.stores import MemoryRunStore
from pims_sync.domain.freshness import Freshness
from pims_sync.domain.health import PauseKind, PauseReason
from pims_sync.domain.outbox import EventType
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from pims_sync.scheduling.scheduler import Scheduler, SchedulerOptions
from tests.unit.scheduling.test_scheduler import Clock, RecordingQueue

NOW = datetime(2026, 6, 1, 13, 0, 30, tzinfo=UTC)  # 06:00:30 in Los Angeles


@dataclass
class World:
    """A scheduler with the memory health store; one running clinic, one to pause."""

    scheduler: Scheduler
    health: MemoryClinicHealth
    events: MemoryEventLog
    queue: RecordingQueue
    clock: Clock
    running: uuid.UUID
    paused: uuid.UUID


async def _world() -> World:
    schedules, runs, events = MemoryScheduleStore(), MemoryRunStore(), MemoryEventLog()
    running, paused = uuid.uuid4(), uuid.uuid4()
    for clinic in (running, paused):
        schedules.add_clinic(clinic, timezone="America/Los_Angeles")
        await schedules.put(clinic, [{"type": "full", "cron": "0 6 * * *"}])
    health = MemoryClinicHealth(schedules=schedules, runs=runs, events=events)
    queue, clock = RecordingQueue(), Clock(NOW)
    scheduler = Scheduler(
        schedules=schedules,
        fires=MemoryFireStore(),
        runs=runs,
        queue=queue,
        recovery=MemoryRunRecovery(),
        now=clock,
        options=SchedulerOptions(freshness_every=timedelta(minutes=1)),
        health=health,
    )
    for phase in (SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILIATION):
        run = await runs.start(
            clinic_id=running, sync_type=phase, triggered_by=Trigger.SCHEDULER, at=NOW
        )
        await runs.finish(
            run_id=run.id,
            status=RunStatus.COMPLETED,
            counters=RunCounters(),
            error_message=None,
            result=None,
            at=NOW,
        )
    return World(scheduler, health, events, queue, clock, running, paused)


async def test_a_paused_clinic_fires_nothing() -> None:
    world = await _world()
    reason = PauseReason(PauseKind.OPERATOR, "moving PIMS")
    await world.health.pause(clinic_id=world.paused, reason=reason, at=NOW)
    report = await world.scheduler.tick()
    assert report.paused == 1
    assert [job.clinic_id for job in world.queue.jobs] == [world.running]


async def test_the_periodic_check_notices_staleness_without_a_run() -> None:
    world = await _world()
    scheduler, clock, running = world.scheduler, world.clock, world.running
    first = {f.clinic_id: f.status for f in await scheduler.watch_freshness()}
    assert first[running] is Freshness.FRESH
    clock.at = NOW + timedelta(seconds=30)
    assert await scheduler.watch_freshness() == []  # not due yet
    # The daily full schedule gives 60 h: past it, stale.
    clock.at = NOW + timedelta(hours=61)
    later = {f.clinic_id: f.status for f in await scheduler.watch_freshness()}
    assert later[running] is Freshness.STALE
    clock.at += timedelta(minutes=5)
    await scheduler.watch_freshness()
    announced = await world.events.after(clinic_id=running, after_seq=0, limit=10)
    assert [(e.type, e.payload["status"]) for e in announced] == [
        (EventType.CLINIC_FRESHNESS_CHANGED, "fresh"),
        (EventType.CLINIC_FRESHNESS_CHANGED, "stale"),
    ]
