"""The embedded job queue: asyncio tasks, one clinic's jobs one at a time (SQLite mode)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from uuid import UUID

from pims_sync.ports.queue import JobHandler, JobRefusedError, SyncJob

log = logging.getLogger("pims_sync.queue")


class InProcessQueue:
    """Runs jobs as tasks of this process; the same locks as the procrastinate queue."""

    def __init__(self, handler: JobHandler) -> None:
        self._handler = handler
        self._locks: defaultdict[UUID, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    async def enqueue(self, job: SyncJob) -> None:
        """Start the job's task; JobRefusedError if its clinic and type is already waiting."""
        if self._closed:
            raise JobRefusedError("the service is shutting down")
        if job.queueing_lock in self._waiting:
            raise JobRefusedError(f"a {job.sync_type.value} run of this clinic is already queued")
        self._waiting.add(job.queueing_lock)
        task = asyncio.create_task(self._execute(job), name=f"job-{job.queueing_lock}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, job: SyncJob) -> None:
        try:
            async with self._locks[job.clinic_id]:
                self._waiting.discard(job.queueing_lock)
                await self._handler(job)
        except Exception:
            log.exception("job %s failed", job.queueing_lock)
        finally:
            self._waiting.discard(job.queueing_lock)

    async def recover_stalled(self) -> list[SyncJob]:
        """Nothing to recover: a crashed process's tasks died with it."""
        return []

    @property
    def pending(self) -> int:
        """Jobs waiting or running."""
        return len(self._tasks)

    async def close(self, timeout: float | None = None) -> None:
        """Take no more jobs; wait for the running ones (the pipeline bounds them)."""
        self._closed = True
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
