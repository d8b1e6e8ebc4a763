"""The embedded job queue: asyncio tasks, one job per lock at a time (SQLite mode)."""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict

from pims_sync.errors import JobRefusedError
from pims_sync.ports.queue import Job, JobHandler

log = logging.getLogger("pims_sync.queue")


class InProcessQueue:
    """Runs jobs as tasks of this process; the same locks as the procrastinate queue.

    A job starts as soon as it is queued (only this process can run it), so the worker
    has nothing to fetch: `run_worker` just lasts until the queue closes.
    """

    def __init__(self, handler: JobHandler, *, grace_seconds: float | None = None) -> None:
        self._handler = handler
        self._grace = grace_seconds
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._waiting: set[str] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    async def open(self) -> None:
        """Nothing to open: the jobs live in this process."""

    async def enqueue(self, job: Job) -> None:
        """Start the job's task; JobRefusedError if one with its queueing lock is waiting."""
        if self._closed.is_set():
            raise JobRefusedError("the service is shutting down")
        if job.queueing_lock in self._waiting:
            raise JobRefusedError(job.refusal)
        self._waiting.add(job.queueing_lock)
        task = asyncio.create_task(self._execute(job), name=f"job-{job.queueing_lock}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, job: Job) -> None:
        try:
            async with self._locks[job.lock]:
                self._waiting.discard(job.queueing_lock)
                await self._handler(job)
        except Exception:
            log.exception("job %s failed", job.queueing_lock)
        finally:
            self._waiting.discard(job.queueing_lock)

    async def recover_stalled(self) -> list[Job]:
        """Nothing to recover: a crashed process's tasks died with it."""
        return []

    async def run_worker(self, *, concurrency: int, name: str) -> None:  # noqa: ARG002
        """Last until the queue closes (the jobs run as their own tasks)."""
        await self._closed.wait()

    async def close(self) -> None:
        """Take no more jobs; wait for the running ones (the grace), then cancel them."""
        self._closed.set()
        if not self._tasks:
            return
        _, pending = await asyncio.wait(set(self._tasks), timeout=self._grace)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
