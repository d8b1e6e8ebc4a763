"""The procrastinate queue on a real Postgres: locks, refusals, the worker, stalled jobs."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest

from pims_sync.adapters.queue.procrastinate import ProcrastinateQueue, conninfo
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.domain.runs import SyncType
from pims_sync.errors import JobRefusedError
from pims_sync.ports.queue import SyncJob

pytestmark = pytest.mark.postgres


@pytest.fixture
def database(postgres_url: str) -> str:
    upgrade_database(postgres_url)
    return postgres_url


async def test_jobs_are_locked_per_clinic_and_duplicates_refused(database: str) -> None:
    clinic, other = uuid.uuid4(), uuid.uuid4()
    running: set[uuid.UUID] = set()
    overlaps: list[uuid.UUID] = []
    done: list[tuple[uuid.UUID, SyncType]] = []

    async def handler(job: SyncJob) -> None:
        if job.clinic_id in running:
            overlaps.append(job.clinic_id)
        running.add(job.clinic_id)
        await asyncio.sleep(0.3)
        running.discard(job.clinic_id)
        done.append((job.clinic_id, job.sync_type))

    queue = ProcrastinateQueue(database, handler, stale_seconds=5, grace_seconds=5)
    await queue.open()
    worker: asyncio.Task[None] | None = None
    try:
        await queue.enqueue(SyncJob(clinic, SyncType.INBOUND, options={"daysAhead": 2}))
        with pytest.raises(JobRefusedError, match="already queued"):
            await queue.enqueue(SyncJob(clinic, SyncType.INBOUND))
        await queue.enqueue(SyncJob(clinic, SyncType.CASES))
        await queue.enqueue(SyncJob(other, SyncType.INBOUND))
        worker = asyncio.create_task(queue.run_worker(concurrency=4, name="test"))
        for _ in range(100):
            if len(done) == 3:
                break
            await asyncio.sleep(0.1)
    finally:
        await queue.close()  # stops the worker: run_worker returns
    assert worker is not None
    await asyncio.wait_for(worker, 10)
    assert sorted(done, key=str) == sorted(
        [(clinic, SyncType.INBOUND), (clinic, SyncType.CASES), (other, SyncType.INBOUND)], key=str
    )
    assert overlaps == []


async def test_a_dead_workers_job_is_failed_and_its_lock_freed(database: str) -> None:
    async def handler(job: SyncJob) -> None:
        del job

    queue = ProcrastinateQueue(database, handler, stale_seconds=5)
    await queue.open()
    try:
        await queue.enqueue(SyncJob(uuid.uuid4(), SyncType.FULL))
        with psycopg.connect(conninfo(database), autocommit=True) as conn:
            dead = conn.execute(
                "INSERT INTO procrastinate_workers (last_heartbeat) "
                "VALUES (now() - interval '1 hour') RETURNING id"
            ).fetchone()
            assert dead is not None
            conn.execute("UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s", dead)
        [freed] = await queue.recover_stalled()
        assert freed.sync_type is SyncType.FULL
        assert await queue.recover_stalled() == []
        with psycopg.connect(conninfo(database)) as conn:
            statuses = [row[0] for row in conn.execute("SELECT status FROM procrastinate_jobs")]
        assert statuses == ["failed"]
    finally:
        await queue.close()
