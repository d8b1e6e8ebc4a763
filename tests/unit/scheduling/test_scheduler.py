"""The scheduler tick, the job runner and the in-process queue, on the memory adapters."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from pims_sync.adapters.memory.schedules import (
    MemoryFireStore,
    MemoryRunRecovery,
    MemoryScheduleStore,
)
from pims_sync.adapters.memory.stores import MemoryRunStore
from pims_sync.adapters.queue.inprocess import InProcessQueue
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import JobRefusedError, RunInProgressError
from pims_sync.ports.queue import LaunchedRun, RunResult, SyncJob
from pims_sync.ports.schedules import FireStatus
from pims_sync.scheduling.runner import JobRunner
from pims_sync.scheduling.scheduler import Scheduler, SchedulerOptions

NOW = datetime(2026, 6, 1, 13, 0, 30, tzinfo=UTC)  # 06:00:30 in Los Angeles


class Clock:
    def __init__(self, at: datetime) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class RecordingQueue:
    def __init__(self, refuse: bool = False) -> None:
        self.jobs: list[SyncJob] = []
        self.refuse = refuse

    async def enqueue(self, job: SyncJob) -> None:
        if self.refuse:
            raise JobRefusedError("a inbound run of this clinic is already queued")
        self.jobs.append(job)

    async def recover_stalled(self) -> list[SyncJob]:
        return []


@pytest.fixture
def clinic() -> UUID:
    return uuid.uuid4()


@pytest.fixture
async def schedules(clinic: UUID) -> MemoryScheduleStore:
    store = MemoryScheduleStore()
    store.add_clinic(clinic, timezone="America/Los_Angeles")
    await store.put(clinic, [{"type": "inbound", "cron": "0 6 * * *", "options": {"daysAhead": 1}}])
    return store


def scheduler(
    schedules: MemoryScheduleStore,
    fires: MemoryFireStore,
    queue: RecordingQueue,
    clock: Clock,
    runs: MemoryRunStore | None = None,
    name: str = "a",
) -> Scheduler:
    return Scheduler(
        schedules=schedules,
        fires=fires,
        runs=runs or MemoryRunStore(),
        queue=queue,
        recovery=MemoryRunRecovery(),
        now=clock,
        options=SchedulerOptions(name=name),
    )


async def test_two_processes_ticking_at_once_queue_each_fire_once(
    schedules: MemoryScheduleStore, clinic: UUID
) -> None:
    fires, queue, clock = MemoryFireStore(), RecordingQueue(), Clock(NOW)
    a = scheduler(schedules, fires, queue, clock, name="a")
    b = scheduler(schedules, fires, queue, clock, name="b")
    reports = await asyncio.gather(a.tick(), b.tick())
    assert sorted(r.claimed for r in reports) == [0, 1]
    assert reports[0].jobs_by_type == {"inbound": 1}
    [job] = queue.jobs
    assert (job.clinic_id, job.sync_type, job.triggered_by) == (
        clinic,
        SyncType.INBOUND,
        Trigger.SCHEDULER,
    )
    assert job.options == {"daysAhead": 1}
    [fire] = fires.all
    assert fire.fire_at == datetime(2026, 6, 1, 13, tzinfo=UTC)
    assert fire.status is FireStatus.QUEUED
    clock.at += timedelta(seconds=15)
    assert (await a.tick()).claimed == 0
    assert (await b.tick()).claimed == 0


async def test_missed_fire_times_run_once_on_start_and_the_rest_are_recorded(
    schedules: MemoryScheduleStore, clinic: UUID
) -> None:
    await schedules.put(clinic, [{"type": "cases", "cron": "*/20 * * * *"}])
    fires, queue = MemoryFireStore(), RecordingQueue()
    await scheduler(schedules, fires, queue, Clock(NOW)).tick()
    assert len(queue.jobs) == 1
    statuses = [(f.fire_at.minute, f.status, f.reason) for f in fires.all]
    assert statuses[-1] == (0, FireStatus.QUEUED, None)
    assert [s[:2] for s in statuses[:-1]] == [(20, FireStatus.SKIPPED), (40, FireStatus.SKIPPED)]
    assert statuses[0][2] is not None
    assert statuses[0][2].startswith("missed: superseded")


async def test_a_busy_clinic_skips_the_fire_with_the_reason(
    schedules: MemoryScheduleStore, clinic: UUID
) -> None:
    runs = MemoryRunStore()
    live = await runs.start(
        clinic_id=clinic, sync_type=SyncType.FULL, triggered_by=Trigger.API, at=NOW
    )
    fires, queue = MemoryFireStore(), RecordingQueue()
    await scheduler(schedules, fires, queue, Clock(NOW), runs=runs).tick()
    assert queue.jobs == []
    [fire] = fires.all
    assert (fire.status, fire.reason) == (
        FireStatus.SKIPPED,
        f"clinic busy: run {live.id} in progress",
    )


async def test_a_refused_job_is_recorded_as_skipped(schedules: MemoryScheduleStore) -> None:
    fires = MemoryFireStore()
    await scheduler(schedules, fires, RecordingQueue(refuse=True), Clock(NOW)).tick()
    [fire] = fires.all
    assert fire.status is FireStatus.SKIPPED
    assert "already queued" in (fire.reason or "")


async def test_config_changes_apply_on_the_next_tick(
    schedules: MemoryScheduleStore, clinic: UUID
) -> None:
    fires, queue, clock = MemoryFireStore(), RecordingQueue(), Clock(NOW)
    running = scheduler(schedules, fires, queue, clock)
    await running.tick()
    await schedules.put(
        clinic,
        [
            {"type": "inbound", "cron": "0 6 * * *", "enabled": False},
            {"type": "full", "cron": "*/5 * * * *"},
        ],
    )
    clock.at += timedelta(minutes=5)
    await running.tick()
    assert [j.sync_type for j in queue.jobs] == [SyncType.INBOUND, SyncType.FULL]


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


async def test_invalid_entries_are_skipped_and_logged_once(
    schedules: MemoryScheduleStore, clinic: UUID
) -> None:
    # Our own handler, enabled: other tests reconfigure logging (root handlers, levels,
    # loggers disabled by a logging config file).
    records = Records()
    logger = logging.getLogger("pims_sync.scheduling")
    saved = (logger.disabled, logger.level)
    logger.disabled = False
    logger.setLevel(logging.WARNING)
    logger.addHandler(records)
    await schedules.put(
        clinic, [{"type": "inbound", "cron": "0 6 * * *"}, {"type": "cases", "cron": "nope"}]
    )
    fires, queue, clock = MemoryFireStore(), RecordingQueue(), Clock(NOW)
    running = scheduler(schedules, fires, queue, clock)
    await running.tick()
    clock.at += timedelta(seconds=15)
    await running.tick()
    assert len(queue.jobs) == 1
    logger.removeHandler(records)
    logger.disabled, logger.level = saved
    assert (
        records.messages.count(
            f"clinic {clinic}: schedule #2: cron 'nope' has 1 fields; use 5 (minute hour day month "
            "weekday) or 6 with leading seconds (skipped)"
        )
        == 1
    )


class Launcher:
    def __init__(self, outcome: RunResult | BaseException, busy: UUID | None = None) -> None:
        self.outcome = outcome
        self.busy = busy
        self.run_id = uuid.uuid4()

    async def launch(self, job: SyncJob) -> LaunchedRun:
        if self.busy is not None:
            raise RunInProgressError(run_id=self.busy)

        async def result() -> RunResult:
            await asyncio.sleep(0)
            if isinstance(self.outcome, BaseException):
                raise self.outcome
            return self.outcome

        return LaunchedRun(self.run_id, result())


async def _run_job(launcher: Launcher) -> tuple[MemoryFireStore, UUID]:
    fires = MemoryFireStore()
    clinic = uuid.uuid4()
    fire_id = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.INBOUND, fire_at=NOW, by="a", at=NOW
    )
    assert fire_id is not None
    runner = JobRunner(launcher=launcher, fires=fires, runs=MemoryRunStore(), now=Clock(NOW))
    await runner(SyncJob(clinic, SyncType.INBOUND, fire_id=fire_id))
    return fires, fire_id


@pytest.mark.parametrize(
    ("outcome", "status", "reason"),
    [
        (RunResult(True), FireStatus.COMPLETED, None),
        (RunResult(False, "PIMS login failed"), FireStatus.FAILED, "PIMS login failed"),
        (RuntimeError("boom"), FireStatus.FAILED, "boom"),
        (asyncio.CancelledError(), FireStatus.FAILED, "interrupted by shutdown"),
    ],
)
async def test_the_runner_records_the_runs_outcome_on_its_fire(
    outcome: RunResult | BaseException, status: FireStatus, reason: str | None
) -> None:
    launcher = Launcher(outcome)
    fires, fire_id = await _run_job(launcher)
    [fire] = fires.all
    assert (fire.id, fire.status, fire.reason, fire.run_id) == (
        fire_id,
        status,
        reason,
        launcher.run_id,
    )


async def test_the_runner_skips_when_the_clinic_is_busy() -> None:
    busy = uuid.uuid4()
    fires, _ = await _run_job(Launcher(RunResult(True), busy=busy))
    [fire] = fires.all
    assert (fire.status, fire.reason) == (
        FireStatus.SKIPPED,
        f"clinic busy: run {busy} in progress",
    )


async def test_in_process_queue_runs_a_clinics_jobs_one_at_a_time() -> None:
    clinic, other = uuid.uuid4(), uuid.uuid4()
    running: set[UUID] = set()
    overlaps: list[UUID] = []
    done: list[SyncType] = []

    async def handler(job: SyncJob) -> None:
        if job.clinic_id in running:
            overlaps.append(job.clinic_id)
        running.add(job.clinic_id)
        await asyncio.sleep(0.01)
        running.discard(job.clinic_id)
        done.append(job.sync_type)

    queue = InProcessQueue(handler, grace_seconds=5)
    await queue.enqueue(SyncJob(clinic, SyncType.INBOUND))
    await queue.enqueue(SyncJob(clinic, SyncType.CASES))
    await queue.enqueue(SyncJob(other, SyncType.INBOUND))
    with pytest.raises(JobRefusedError, match="already queued"):
        await queue.enqueue(SyncJob(clinic, SyncType.CASES))
    worker = asyncio.create_task(queue.run_worker(concurrency=1, name="test"))
    await queue.close()
    await asyncio.wait_for(worker, 1)  # the worker lasts until the queue closes
    assert overlaps == []
    assert len(done) == 3
    with pytest.raises(JobRefusedError, match="shutting down"):
        await queue.enqueue(SyncJob(clinic, SyncType.FULL))


async def test_a_clinic_with_an_unknown_zone_is_skipped_not_the_tick(
    schedules: MemoryScheduleStore,
) -> None:
    broken = uuid.uuid4()
    schedules.add_clinic(broken, timezone="Mars/Olympus")
    await schedules.put(broken, [{"type": "inbound", "cron": "* * * * *"}])
    queue = RecordingQueue()
    await scheduler(schedules, MemoryFireStore(), queue, Clock(NOW)).tick()
    assert len(queue.jobs) == 1
    [config] = await schedules.configs([broken])
    assert str(config.parsed.problems[0]).startswith("clinic time zone 'Mars/Olympus' is unknown")


async def test_recovery_closes_the_open_fires_of_jobs_whose_worker_died(
    schedules: MemoryScheduleStore, clinic: UUID
) -> None:
    fires = MemoryFireStore()
    open_fire = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.INBOUND, fire_at=NOW, by="a", at=NOW
    )
    done_fire = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.CASES, fire_at=NOW, by="a", at=NOW
    )
    assert open_fire is not None
    assert done_fire is not None
    await fires.mark(done_fire, status=FireStatus.COMPLETED, at=NOW)

    class DeadWorkerQueue(RecordingQueue):
        async def recover_stalled(self) -> list[SyncJob]:
            return [
                SyncJob(clinic, SyncType.INBOUND, fire_id=open_fire),
                SyncJob(clinic, SyncType.CASES, fire_id=done_fire),
            ]

    await scheduler(schedules, fires, DeadWorkerQueue(), Clock(NOW)).recover()
    statuses = {f.id: (f.status, f.reason) for f in fires.all}
    assert statuses[open_fire] == (FireStatus.FAILED, "abandoned: the worker running it stopped")
    assert statuses[done_fire] == (FireStatus.COMPLETED, None)


async def test_state_of_clinics_that_left_is_forgotten() -> None:
    store = MemoryScheduleStore()
    clinics = [uuid.uuid4() for _ in range(100)]
    for clinic_id in clinics:
        store.add_clinic(clinic_id, timezone="America/Los_Angeles")
        await store.put(clinic_id, [{"type": "cases", "cron": "nope"}])  # reported once each
    running = scheduler(store, MemoryFireStore(), RecordingQueue(), Clock(NOW))
    await running.tick()
    assert running.clinics_remembered == 100
    store._configs.clear()  # every clinic deleted (the SQL store reads them from the table)
    await running.tick()
    assert running.clinics_remembered == 0


async def test_in_process_queue_keeps_nothing_per_clinic_and_caps_its_slots() -> None:
    running: set[UUID] = set()
    peak = 0

    async def handler(job: object) -> None:
        nonlocal peak
        assert isinstance(job, SyncJob)
        running.add(job.clinic_id)
        peak = max(peak, len(running))
        await asyncio.sleep(0.01)
        running.discard(job.clinic_id)

    queue = InProcessQueue(handler, grace_seconds=5, concurrency={"sync": 3})
    for _ in range(100):
        await queue.enqueue(SyncJob(uuid.uuid4(), SyncType.INBOUND))
    assert queue.queued == 97  # three slots
    for _ in range(500):
        if not queue.queued and not queue.locks_held:
            break
        await asyncio.sleep(0.01)
    await queue.close()
    assert peak == 3
    assert (queue.queued, queue.locks_held) == (0, 0)
