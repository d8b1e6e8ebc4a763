"""Both job queues serve in the same order: asked-for runs first, then fire order, merged.

The in-process queue (SQLite mode) and procrastinate (Postgres), each with one slot:
- a run asked for through the API starts next while 200 scheduled runs wait;
- a clinic on a 5-minute schedule cannot starve one on a daily schedule;
- a schedule that keeps firing while its run waits is merged into it: one run, no backlog.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest

from pims_sync.adapters.queue.inprocess import InProcessQueue
from pims_sync.adapters.queue.procrastinate import ProcrastinateQueue
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import JobRefusedError
from pims_sync.ports.queue import Job, SyncJob, WorkerQueue

pytestmark = pytest.mark.asyncio


class Worker:
    """Records the jobs it runs, in order; the first one (the blocker) waits to be let go."""

    def __init__(self) -> None:
        self.ran: list[SyncJob] = []
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.on_done: Callable[[SyncJob], None] | None = None

    async def __call__(self, job: Job) -> None:
        assert isinstance(job, SyncJob)
        self.ran.append(job)
        if len(self.ran) == 1:
            self.started.set()
            await self.release.wait()
        if self.on_done is not None:
            self.on_done(job)

    async def until(self, count: int, limit: float = 60.0) -> None:
        for _ in range(int(limit / 0.05)):
            if len(self.ran) >= count:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{len(self.ran)} jobs ran, {count} expected")


@pytest.fixture(params=["inprocess", "procrastinate"])
def queue_kind(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@asynccontextmanager
async def one_slot(
    kind: str, worker: Worker, request: pytest.FixtureRequest
) -> AsyncIterator[WorkerQueue]:
    """A queue of `kind` with one sync slot and its worker running; the blocker running."""
    queue: WorkerQueue
    if kind == "inprocess":
        queue = InProcessQueue(worker, grace_seconds=5, concurrency={"sync": 1})
    else:
        url = str(request.getfixturevalue("postgres_url"))
        upgrade_database(url)
        queue = ProcrastinateQueue(url, worker, stale_seconds=5, grace_seconds=5)
    await queue.open()
    runner = asyncio.create_task(queue.run_worker(concurrency=1, name="order-test"))
    try:
        await queue.enqueue(SyncJob(uuid.uuid4(), SyncType.INBOUND))  # the blocker
        await asyncio.wait_for(worker.started.wait(), 30)
        yield queue
    finally:
        worker.release.set()
        await queue.close()
        await asyncio.wait_for(runner, 30)


def scheduled(clinic: uuid.UUID, sync_type: SyncType = SyncType.INBOUND) -> SyncJob:
    return SyncJob(clinic, sync_type, triggered_by=Trigger.SCHEDULER)


async def test_an_asked_for_run_starts_next_while_200_scheduled_wait(
    queue_kind: str, request: pytest.FixtureRequest
) -> None:
    worker = Worker()
    asked = SyncJob(uuid.uuid4(), SyncType.FULL, triggered_by=Trigger.API)
    async with one_slot(queue_kind, worker, request) as queue:
        for _ in range(200):
            await queue.enqueue(scheduled(uuid.uuid4()))
        await queue.enqueue(asked)
        worker.release.set()
        await worker.until(3)
    assert worker.ran[1] == asked  # right after the blocker, ahead of all 200


async def test_a_frequent_schedule_cannot_starve_a_daily_one(
    queue_kind: str, request: pytest.FixtureRequest
) -> None:
    worker = Worker()
    frequent, daily = uuid.uuid4(), uuid.uuid4()
    requeued: list[asyncio.Task[None]] = []
    async with one_slot(queue_kind, worker, request) as queue:

        def fire_again(job: SyncJob) -> None:
            # The 5-minute clinic's next fire comes as soon as its run ends.
            if job.clinic_id == frequent and len(worker.ran) < 6:
                requeued.append(asyncio.create_task(queue.enqueue(scheduled(frequent))))

        worker.on_done = fire_again
        await queue.enqueue(scheduled(frequent))
        await queue.enqueue(scheduled(daily))
        worker.release.set()
        await worker.until(4)
        await asyncio.gather(*requeued, return_exceptions=True)
    order = [job.clinic_id for job in worker.ran[1:4]]
    assert order[:2] == [frequent, daily]  # the daily one is served before the next 5-minute


async def test_fires_of_a_late_schedule_merge_into_its_waiting_run(
    queue_kind: str, request: pytest.FixtureRequest
) -> None:
    worker = Worker()
    late = uuid.uuid4()
    async with one_slot(queue_kind, worker, request) as queue:
        await queue.enqueue(scheduled(late))
        for _ in range(3):  # three more fire times pass while it waits
            with pytest.raises(JobRefusedError, match="already queued"):
                await queue.enqueue(scheduled(late))
        worker.release.set()
        await worker.until(2)
        await asyncio.sleep(1.0)  # anything else queued would have run by now
    assert [job.clinic_id for job in worker.ran[1:]] == [late]  # one run, no backlog
