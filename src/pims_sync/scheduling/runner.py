"""The job runner: executes one queued sync job and records its fire's outcome."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime

from pims_sync.errors import PimsSyncError, RunInProgressError
from pims_sync.ports.queue import LaunchedRun, RunLauncher, RunResult, SyncJob
from pims_sync.ports.schedules import FireStatus, FireStore
from pims_sync.ports.store import RunStore

log = logging.getLogger("pims_sync.scheduling")

INTERRUPTED = "interrupted by shutdown"


class JobRunner:
    """Called by a queue for each job: start the run, keep it alive, close the fire."""

    def __init__(
        self,
        *,
        launcher: RunLauncher,
        fires: FireStore,
        runs: RunStore,
        now: Callable[[], datetime],
        heartbeat_seconds: float = 15.0,
        name: str = "worker",
    ) -> None:
        self._launcher = launcher
        self._fires = fires
        self._runs = runs
        self._now = now
        self._heartbeat = heartbeat_seconds
        self._name = name

    async def __call__(self, job: SyncJob) -> None:
        """Execute the job; a busy clinic or a refused start is recorded on the fire."""
        try:
            launched = await self._launcher.launch(job)
        except RunInProgressError as busy:
            await self._close(
                job, FireStatus.SKIPPED, f"clinic busy: run {busy.run_id} in progress"
            )
            return
        except PimsSyncError as error:
            await self._close(job, FireStatus.SKIPPED, f"not started: {error}")
            return
        await self._close(job, FireStatus.STARTED, None, launched)
        result = await self._follow(launched)
        status = FireStatus.COMPLETED if result.success else FireStatus.FAILED
        await self._close(job, status, result.error, launched)

    async def _follow(self, launched: LaunchedRun) -> RunResult:
        """Wait for the run, beating its heartbeat so no other process takes it for dead."""
        beat = asyncio.create_task(self._beat(launched), name=f"beat-{launched.run_id}")
        try:
            return await launched.result
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if current is not None and current.cancelling():
                raise  # our own job is being cancelled; recovery closes the fire later
            return RunResult(success=False, error=INTERRUPTED)
        except Exception as error:  # noqa: BLE001 - the run's audit row has the details
            return RunResult(success=False, error=str(error) or type(error).__name__)
        finally:
            beat.cancel()

    async def _beat(self, launched: LaunchedRun) -> None:
        # The pipeline beats too, but less often than a short stale timeout needs.
        while True:
            await asyncio.sleep(self._heartbeat)
            try:
                await self._runs.heartbeat(run_id=launched.run_id, at=self._now())
            except Exception:
                log.warning("could not record a run heartbeat", exc_info=True)

    async def _close(
        self,
        job: SyncJob,
        status: FireStatus,
        reason: str | None,
        launched: LaunchedRun | None = None,
    ) -> None:
        if status is FireStatus.SKIPPED:
            log.info("scheduled %s run skipped: %s", job.sync_type.value, reason)
        if job.fire_id is None:
            return
        try:
            await self._fires.mark(
                job.fire_id,
                status=status,
                at=self._now(),
                reason=reason,
                run_id=None if launched is None else launched.run_id,
                run_by=None if launched is None else self._name,
            )
        except Exception:
            log.exception("could not record the outcome of fire %s", job.fire_id)
