"""Two schedules of one clinic due at the same instant both run, one after the other."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from pims_sync.adapters.memory.schedules import (
    MemoryFireStore,
    MemoryRunRecovery,
    MemoryScheduleStore,
)
from pims_sync.adapters.memory.stores import MemoryRunStore
from pims_sync.domain.runs import SyncType
from pims_sync.ports.queue import SyncJob
from pims_sync.ports.schedules import FireStatus
from pims_sync.scheduling.scheduler import Scheduler

NOW = datetime(2026, 6, 1, 13, 0, 30, tzinfo=UTC)  # 06:00:30 in Los Angeles


class EagerQueue:
    """A worker so quick that a queued job's run is open before the tick goes on."""

    def __init__(self, runs: MemoryRunStore) -> None:
        self.runs = runs
        self.jobs: list[SyncJob] = []

    async def enqueue(self, job: SyncJob) -> None:
        self.jobs.append(job)
        if await self.runs.active(clinic_id=job.clinic_id) is None:
            await self.runs.start(
                clinic_id=job.clinic_id,
                sync_type=job.sync_type,
                triggered_by=job.triggered_by,
                at=NOW,
            )

    async def recover_stalled(self) -> list[SyncJob]:
        return []


async def test_a_run_queued_by_this_tick_does_not_make_the_clinics_next_fire_busy() -> None:
    clinic = uuid.uuid4()
    schedules = MemoryScheduleStore()
    schedules.add_clinic(clinic, timezone="America/Los_Angeles")
    await schedules.put(
        clinic,
        [{"type": "inbound", "cron": "0 6 * * *"}, {"type": "cases", "cron": "0 6 * * *"}],
    )
    runs, fires = MemoryRunStore(), MemoryFireStore()
    queue = EagerQueue(runs)
    scheduler = Scheduler(
        schedules=schedules,
        fires=fires,
        runs=runs,
        queue=queue,
        recovery=MemoryRunRecovery(),
        now=lambda: NOW,
    )
    report = await scheduler.tick()
    # The queue's per-clinic lock runs them one after the other (deploy.md).
    assert (report.queued, report.skipped) == (2, 0)
    assert sorted(j.sync_type.value for j in queue.jobs) == [SyncType.CASES, SyncType.INBOUND]
    assert {f.status for f in fires.all} == {FireStatus.QUEUED}
