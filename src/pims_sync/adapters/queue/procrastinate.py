"""The Postgres job queue: procrastinate, shared by every `serve` and `worker` process.

A sync job is deferred with `lock="clinic:<id>"` (procrastinate runs one job per lock
at a time, across workers and machines) and `queueing_lock="clinic:<id>:<type>"` (a
second waiting job of the same clinic and type is refused: AlreadyEnqueued). Jobs are
not retried: the next fire time is the retry. A worker that dies mid-job leaves its job
`doing`, holding the clinic's lock; `recover_stalled` fails such jobs once their
worker's heartbeat is older than the stale timeout, so the clinic's next job can run.
"""

from __future__ import annotations

import logging
from typing import Any

from procrastinate import App, PsycopgConnector
from procrastinate.exceptions import AlreadyEnqueued, ProcrastinateException
from procrastinate.jobs import Status
from sqlalchemy.engine import make_url

from pims_sync.ports.queue import JobHandler, JobRefusedError, SyncJob

log = logging.getLogger("pims_sync.queue")

TASK_NAME = "pims_sync.run_sync"
QUEUE_NAME = "sync"


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
    ) -> None:
        connector = PsycopgConnector(
            conninfo=conninfo(database_url), min_size=1, max_size=max(pool_size, 2)
        )
        self.app = App(connector=connector)
        self._handler = handler
        self._stale = stale_seconds

        async def run_sync(**payload: Any) -> None:
            await self._handler(SyncJob.from_payload(payload))

        self._task = self.app.task(name=TASK_NAME, queue=QUEUE_NAME, retry=False)(run_sync)

    async def open(self) -> None:
        """Open the connection pool."""
        await self.app.open_async()

    async def close(self) -> None:
        """Close the connection pool."""
        await self.app.close_async()

    async def enqueue(self, job: SyncJob) -> None:
        """Defer the job; JobRefusedError if one of its clinic and type is already waiting."""
        configured = self._task.configure(lock=job.lock, queueing_lock=job.queueing_lock)
        try:
            await configured.defer_async(**job.payload())
        except AlreadyEnqueued:
            raise JobRefusedError(
                f"a {job.sync_type.value} run of this clinic is already queued"
            ) from None

    async def recover_stalled(self) -> list[SyncJob]:
        """Fail the jobs of workers whose heartbeat stopped (freeing their clinic locks)."""
        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            seconds_since_heartbeat=self._stale, task_name=TASK_NAME
        )
        freed: list[SyncJob] = []
        for job in stalled:
            try:
                await manager.finish_job(job, status=Status.FAILED, delete_job=False)
            except ProcrastinateException:
                continue  # another process freed it first
            except Exception:  # the job is no longer `doing` (a race with its worker)
                log.debug("stalled job %s already finished", job.id, exc_info=True)
                continue
            freed.append(SyncJob.from_payload(job.task_kwargs))
            log.warning("job %s of a dead worker marked failed (lock %s freed)", job.id, job.lock)
        return freed

    async def run_worker(self, *, concurrency: int, name: str, graceful_seconds: float) -> None:
        """Execute jobs until cancelled; on cancel, running jobs get `graceful_seconds`."""
        await self.app.run_worker_async(
            queues=[QUEUE_NAME],
            concurrency=concurrency,
            name=name,
            install_signal_handlers=False,
            shutdown_graceful_timeout=graceful_seconds,
            update_heartbeat_interval=max(self._stale / 4, 1.0),
            stalled_worker_timeout=self._stale,
            fetch_job_polling_interval=2.0,
            delete_jobs="successful",
        )
