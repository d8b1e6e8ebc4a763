"""The Postgres job queue: procrastinate, shared by every `serve` and `worker` process.

A sync job is deferred with `priority` (a run a person asked for goes ahead of scheduled
ones: procrastinate fetches by priority, then in order), `lock="clinic:<id>"`
(procrastinate runs one job per lock at a time, across workers and machines) and
`queueing_lock="clinic:<id>:<type>"` (a second waiting job of the same clinic and type is
refused: AlreadyEnqueued; a schedule running late is merged into its waiting run instead
of piling up). Jobs are not retried: the next fire time is the retry. A worker that dies
mid-job leaves its job `doing`, holding the clinic's lock; `recover_stalled` fails such
jobs once their worker's heartbeat is older than the stale timeout, so the clinic's next
job can run.

A webhook delivery job is deferred with `lock` and `queueing_lock` `"webhook:<endpoint
id>"` (one at a time per endpoint: its events go out in order; one waiting). Deliveries
are in the same app and job table as the syncs, in a queue of their own (`webhooks`)
served by a worker of their own, so a few long syncs never hold a delivery back.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ProcrastinateException
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url

from pims_sync.errors import JobRefusedError
from pims_sync.ports.queue import DeliveryJob, Job, JobHandler, SyncJob

log = logging.getLogger("pims_sync.queue")

TASK_NAME = "pims_sync.run_sync"
QUEUE_NAME = "sync"
DELIVERY_TASK_NAME = "pims_sync.deliver_webhooks"
DELIVERY_QUEUE_NAME = "webhooks"


def conninfo(database_url: str) -> str:
    """A libpq URL for psycopg (`postgres://` and `+driver` forms accepted)."""
    if database_url.startswith("postgres://"):
        database_url = "postgresql://" + database_url.removeprefix("postgres://")
    return make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)


class ProcrastinateQueue:
    """Defers sync jobs to procrastinate and runs a worker that executes them."""

    def __init__(
        self,
        database_url: str,
        handler: JobHandler,
        *,
        stale_seconds: float = 120.0,
        pool_size: int = 4,
        grace_seconds: float = 30.0,
        delivery_concurrency: int = 4,
    ) -> None:
        connector = PsycopgConnector(
            conninfo=conninfo(database_url), min_size=1, max_size=max(pool_size, 2)
        )
        self.app = App(connector=connector)
        self._handler = handler
        self._stale = stale_seconds
        self._grace = grace_seconds
        self._delivery_concurrency = delivery_concurrency
        self._workers: list[asyncio.Task[None]] = []

        async def run_sync(**payload: Any) -> None:
            await self._handler(SyncJob.from_payload(payload))

        async def deliver_webhooks(**payload: Any) -> None:
            await self._handler(DeliveryJob.from_payload(payload))

        self._task = self.app.task(name=TASK_NAME, queue=QUEUE_NAME, retry=False)(run_sync)
        # Not retried by procrastinate: the endpoint's row holds the retry schedule.
        self._delivery_task = self.app.task(
            name=DELIVERY_TASK_NAME, queue=DELIVERY_QUEUE_NAME, retry=False
        )(deliver_webhooks)
        self._tasks: dict[str, Callable[[Mapping[str, Any]], Job]] = {
            TASK_NAME: SyncJob.from_payload,
            DELIVERY_TASK_NAME: DeliveryJob.from_payload,
        }

    async def open(self) -> None:
        """Open the connection pool."""
        await self.app.open_async()

    async def close(self) -> None:
        """Stop the worker (running jobs get the grace), then close the connection pool."""
        for worker in self._workers:
            worker.cancel()  # procrastinate stops fetching and waits for its jobs
        for worker in self._workers:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await worker
        await self.app.close_async()

    async def enqueue(self, job: Job) -> None:
        """Defer the job; JobRefusedError if one with its queueing lock is already waiting."""
        task = self._task if isinstance(job, SyncJob) else self._delivery_task
        configured = task.configure(
            lock=job.lock, queueing_lock=job.queueing_lock, priority=job.priority
        )
        try:
            await configured.defer_async(**job.payload())
        except AlreadyEnqueued:
            raise JobRefusedError(job.refusal) from None

    async def recover_stalled(self) -> list[Job]:
        """Fail the jobs of workers whose heartbeat stopped (freeing their locks)."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(seconds_since_heartbeat=self._stale)
        freed: list[Job] = []
        for job in stalled:
            parse = self._tasks.get(job.task_name)
            if parse is None:
                continue  # not one of ours
            try:
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            except ProcrastinateException:
                continue  # another process freed it first
            except Exception:  # the job is no longer `doing` (a race with its worker)
                log.debug("stalled job %s already finished", job.id, exc_info=True)
                continue
            freed.append(parse(job.task_kwargs))
            log.warning("job %s of a dead worker marked failed (lock %s freed)", job.id, job.lock)
        return freed

    async def run_worker(self, *, concurrency: int, name: str) -> None:
        """Execute jobs (syncs, and deliveries beside them) until the queue closes."""
        self._workers = [
            self._start_worker(QUEUE_NAME, concurrency, name),
            self._start_worker(DELIVERY_QUEUE_NAME, self._delivery_concurrency, f"{name}:webhooks"),
        ]
        try:
            await asyncio.gather(*self._workers)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                for worker in self._workers:
                    worker.cancel()
                raise  # this call was cancelled (its workers with it), not closed

    def _start_worker(self, queue: str, concurrency: int, name: str) -> asyncio.Task[None]:
        return asyncio.create_task(
            self.app.run_worker_async(
                queues=[queue],
                concurrency=concurrency,
                name=name,
                install_signal_handlers=False,
                shutdown_graceful_timeout=self._grace,
                update_heartbeat_interval=max(self._stale / 4, 1.0),
                stalled_worker_timeout=self._stale,
                fetch_job_polling_interval=2.0,
                delete_jobs="successful",
            ),
            name=f"procrastinate-worker-{name}",
        )
