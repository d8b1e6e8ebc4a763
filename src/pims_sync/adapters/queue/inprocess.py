"""The embedded job queue (SQLite mode): the procrastinate queue's order, in this process.

Jobs wait in one list ordered by priority (higher first), then by arrival; a free slot
of the job's kind (`concurrency`: sync jobs, webhook deliveries) takes the first job
whose lock is free, as procrastinate's fetch does (`ORDER BY priority DESC, id`, jobs
whose lock is held skipped). So a run asked for by a person jumps ahead of scheduled
ones, scheduled ones are served in fire order across clinics, and no more jobs run at
once than the slots allow, whatever the number of clinics. Nothing is kept per clinic
beyond the jobs waiting and running.
"""

from __future__ import annotations

import asyncio
import bisect
import itertools
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field

from pims_sync.errors import JobRefusedError
from pims_sync.ports.queue import Job, JobHandler

log = logging.getLogger("pims_sync.queue")


@dataclass(order=True)
class _Waiting:
    """A queued job, sorted as it will be served: priority (higher first), then arrival."""

    rank: int
    seq: int
    job: Job = field(compare=False)


class InProcessQueue:
    """Runs jobs as tasks of this process, at most `concurrency[kind]` of a kind at once.

    A kind missing from `concurrency` is not capped. `run_worker` just lasts until the queue
    closes: the queue starts jobs itself as slots free up.
    """

    def __init__(
        self,
        handler: JobHandler,
        *,
        grace_seconds: float | None = None,
        concurrency: Mapping[str, int] | None = None,
    ) -> None:
        self._handler = handler
        self._grace = grace_seconds
        self._limits = dict(concurrency or {})
        self._queued: list[_Waiting] = []
        self._waiting: set[str] = set()  # queueing locks of the queued jobs
        self._held: set[str] = set()  # locks of the running jobs
        self._running: dict[str, int] = {}  # running jobs by kind
        self._seq = itertools.count()
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = asyncio.Event()

    @property
    def queued(self) -> int:
        """Jobs waiting for a slot or for their lock."""
        return len(self._queued)

    @property
    def locks_held(self) -> int:
        """Locks of running jobs (nothing is kept for a clinic once its job ends)."""
        return len(self._held)

    async def open(self) -> None:
        """Nothing to open: the jobs live in this process."""

    async def enqueue(self, job: Job) -> None:
        """Queue the job (started at once if a slot is free); JobRefusedError if one waits."""
        if self._closed.is_set():
            raise JobRefusedError("the service is shutting down")
        if job.queueing_lock in self._waiting:
            raise JobRefusedError(job.refusal)
        self._waiting.add(job.queueing_lock)
        bisect.insort(self._queued, _Waiting(-job.priority, next(self._seq), job))
        self._dispatch()

    def _dispatch(self) -> None:
        """Start every queued job, in order, that has a free slot and a free lock."""
        index = 0
        while index < len(self._queued):
            job = self._queued[index].job
            limit = self._limits.get(job.kind)
            if job.lock in self._held or (
                limit is not None and self._running.get(job.kind, 0) >= limit
            ):
                index += 1
                continue
            del self._queued[index]
            self._start(job)

    def _start(self, job: Job) -> None:
        self._waiting.discard(job.queueing_lock)
        self._held.add(job.lock)
        self._running[job.kind] = self._running.get(job.kind, 0) + 1
        task = asyncio.create_task(self._execute(job), name=f"job-{job.queueing_lock}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _execute(self, job: Job) -> None:
        try:
            await self._handler(job)
        except Exception:
            log.exception("job %s failed", job.queueing_lock)
        finally:
            self._held.discard(job.lock)
            self._running[job.kind] -= 1
            self._dispatch()  # also while closing: queued jobs get the grace too

    async def recover_stalled(self) -> list[Job]:
        """Nothing to recover: a crashed process's tasks died with it."""
        return []

    async def run_worker(self, *, concurrency: int, name: str) -> None:  # noqa: ARG002
        """Last until the queue closes (the queue starts jobs as slots free up)."""
        await self._closed.wait()

    async def close(self) -> None:
        """Take no more jobs; queued and running ones get the grace, then are stopped."""
        self._closed.set()
        loop = asyncio.get_running_loop()
        deadline = None if self._grace is None else loop.time() + self._grace
        while self._tasks:
            left = None if deadline is None else deadline - loop.time()
            if left is not None and left <= 0:
                break
            await asyncio.wait(set(self._tasks), timeout=left, return_when=asyncio.FIRST_COMPLETED)
        if self._queued:  # their fires stay `queued`, as after a crash
            log.warning("%d queued jobs dropped at shutdown", len(self._queued))
            self._queued.clear()
            self._waiting.clear()
        pending = set(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.wait(pending)
