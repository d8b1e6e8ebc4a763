"""A process's background parts: the scheduler, the job worker, crash recovery, shutdown.

`serve` and `worker` build one Runtime beside the services. The job queue comes from
`bootstrap.build_job_queue` (in-process on SQLite, procrastinate on Postgres, shared by
every process on every machine); the runtime only drives its lifecycle: open, run a
worker, close. The queue carries two kinds of jobs: sync runs (`JobRunner`) and webhook
deliveries (`Deliverer`), which the delivery pump queues for endpoints with events due.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from pims_sync.bootstrap import Services, build_job_queue
from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import ScheduleRules
from pims_sync.ports.queue import Job, JobHandler, LaunchedRun, RunResult, SyncJob
from pims_sync.scheduling.runner import INTERRUPTED, JobRunner
from pims_sync.scheduling.scheduler import Scheduler, SchedulerOptions, TickReport
from pims_sync.sync.outcomes import run_error
from pims_sync.sync.request import request_from_options
from pims_sync.sync.service import SyncOutcome
from pims_sync.webhooks.delivery import Deliverer
from pims_sync.webhooks.pump import DeliveryPump

log = logging.getLogger("pims_sync.runtime")


def _now() -> datetime:
    return datetime.now(UTC)


def process_name() -> str:
    """host:pid, recorded on the fires this process claims."""
    return f"{socket.gethostname()}:{os.getpid()}"


async def _result(task: asyncio.Task[SyncOutcome]) -> RunResult:
    """The run's result; shielded so only the pipeline's shutdown stops the run itself."""
    try:
        outcome = await asyncio.shield(task)
    except asyncio.CancelledError:
        if task.cancelled():
            return RunResult(success=False, error=INTERRUPTED)
        raise
    except Exception as error:  # noqa: BLE001 - its audit row has the details
        return RunResult(success=False, error=str(error) or type(error).__name__)
    return RunResult(success=outcome.success, error=None if outcome.success else run_error(outcome))


class SyncLauncher:
    """Starts a job's run through the pipeline (the same path as API and CLI runs)."""

    def __init__(self, services: Services) -> None:
        self._services = services

    async def launch(self, job: SyncJob) -> LaunchedRun:
        """Open the audit row and start the run (RunInProgressError if the clinic is busy)."""
        request = request_from_options(job.clinic_id, job.sync_type, job.triggered_by, job.options)
        handle = await self._services.sync.start(request)
        return LaunchedRun(run_id=handle.run_id, result=_result(handle.task))


def dispatcher(runner: JobRunner, deliverer: Deliverer) -> JobHandler:
    """What the queue calls: each kind of job to its executor."""

    async def handle(job: Job) -> None:
        if isinstance(job, SyncJob):
            await runner(job)
        else:
            await deliverer(job)

    return handle


class Runtime:
    """The scheduler and/or worker of one process, started and stopped together."""

    def __init__(self, services: Services, *, scheduler: bool, worker: bool) -> None:
        settings = services.settings
        self._services = services
        self._want_scheduler = scheduler
        self._want_worker = worker
        self._stale = settings.run_stale_seconds
        self._grace = settings.shutdown_grace_seconds
        self.name = process_name()
        runner = JobRunner(
            name=self.name,
            launcher=SyncLauncher(services),
            fires=services.fires,
            runs=services.runs,
            now=_now,
            heartbeat_seconds=min(15.0, self._stale / 4),
        )
        self.queue = build_job_queue(settings, dispatcher(runner, services.deliverer()))
        self.pump = DeliveryPump(
            store=services.webhooks,
            queue=self.queue,
            now=_now,
            interval=settings.webhooks_poll_seconds,
        )
        self.scheduler = Scheduler(
            schedules=services.schedules,
            fires=services.fires,
            runs=services.runs,
            queue=self.queue,
            recovery=services.recovery,
            now=_now,
            options=SchedulerOptions(
                tick_seconds=settings.scheduler_tick_seconds,
                stale_after=timedelta(seconds=self._stale),
                name=self.name,
                rules=ScheduleRules(settings.schedule_min_interval_seconds),
                freshness_every=timedelta(seconds=settings.freshness_check_seconds),
            ),
            observe=self._observe,
            health=services.health,
        )
        self._tasks: list[asyncio.Task[None]] = []
        self._stopping: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    def _observe(self, report: TickReport) -> None:
        """Publish the scheduled jobs by type (`pims_sync_scheduler_jobs`)."""
        by_type = {kind.value: report.jobs_by_type.get(kind.value, 0) for kind in SyncType}
        self._services.metrics.scheduled_jobs(by_type)

    def _spawn(self, work: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.create_task(work, name=name))

    async def start(self) -> None:
        """Recover after crashed processes, then start the parts asked for."""
        self._loop = asyncio.get_running_loop()
        await self.queue.open()
        await self.scheduler.recover()  # runs left in progress by a dead process
        # The loop also recovers on every tick: a survivor cleans up after a crash.
        self._spawn(self.scheduler.run(plan=self._want_scheduler), "scheduler")
        self._spawn(self.pump.run(), "webhook-pump")
        self._services.scheduler_running = self._want_scheduler
        if self._want_worker:
            concurrency = self._services.settings.worker_concurrency
            self._spawn(self.queue.run_worker(concurrency=concurrency, name=self.name), "worker")
        log.info(
            "runtime started: scheduler %s, worker %s, queue %s",
            "on" if self._want_scheduler else "off",
            "on" if self._want_worker else "off",
            type(self.queue).__name__,
        )

    def request_stop(self) -> None:
        """From a signal handler: begin stopping now (uvicorn drains requests meanwhile)."""
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._begin_stop)

    def _begin_stop(self) -> None:
        if self._stopping is None:
            self._stopping = asyncio.create_task(self._stop(), name="runtime-stop")

    async def stop(self) -> None:
        """Stop taking work; running syncs get the grace period, then are interrupted."""
        self._begin_stop()
        assert self._stopping is not None  # noqa: S101 - set just above
        await self._stopping

    async def _stop(self) -> None:
        self.scheduler.stop()
        self.pump.stop()
        self._services.scheduler_running = False
        # The pipeline interrupts runs past the grace while the queue waits for its jobs
        # to end (a little longer), stops its worker and lets go of its connections.
        parts: list[Coroutine[Any, Any, None]] = [self._close_queue()]
        if self._services.sync_service is not None:
            parts.append(self._services.sync_service.shutdown(self._grace))
        await asyncio.gather(*parts, return_exceptions=True)
        await self._settle(*self._tasks)
        log.info("runtime stopped")

    async def _close_queue(self) -> None:
        # The scheduler's last tick (or the pump's pass) may still be queueing a job.
        queueing = ("scheduler", "webhook-pump")
        await self._settle(*(task for task in self._tasks if task.get_name() in queueing))
        await self.queue.close()

    @staticmethod
    async def _settle(*tasks: asyncio.Task[None]) -> None:
        """Wait for the tasks to end; their failures were logged where they happened."""
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
