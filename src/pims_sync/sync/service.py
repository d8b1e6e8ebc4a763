"""SyncService: starts runs (one per clinic at a time), bounds them, always closes their audit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from pims_sync.domain.clinics import Clinic
from pims_sync.domain.health import DEFAULT_LOGIN_BUDGET, RunEnd
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType
from pims_sync.errors import (
    ClinicInactiveError,
    NotFoundError,
    PimsSyncError,
    ServiceStoppingError,
    SyncTimeoutError,
)
from pims_sync.logs import log_context
from pims_sync.ports.clinics import ClinicDirectory
from pims_sync.ports.credentials import CredentialSource
from pims_sync.ports.health import ClinicHealthStore
from pims_sync.ports.login_budget import LoginLedger, allowance
from pims_sync.ports.metrics import NO_METRICS, MetricsSink
from pims_sync.ports.mirror import ScheduleMirror
from pims_sync.ports.provider import ClinicLogin, PimsProvider
from pims_sync.ports.request_budget import DailyBudget
from pims_sync.ports.store import CaseStore, RunStore
from pims_sync.shapes.base import CamelModel
from pims_sync.shapes.results import FailedRun
from pims_sync.sync.context import RunEnv, RunState
from pims_sync.sync.events import EventBus, RunEvent
from pims_sync.sync.full import run_full, run_single
from pims_sync.sync.guard import paused_error, run_end
from pims_sync.sync.outcomes import (
    FullOutcome,
    PhaseOutcome,
    SyncOutcome,
    run_error,
    run_error_code,
)
from pims_sync.sync.request import SyncRequest, validate
from pims_sync.sync.windows import clinic_today

__all__ = [
    "FullOutcome",
    "PhaseOutcome",
    "RunHandle",
    "ServiceStoppingError",
    "SyncOutcome",
    "SyncRequest",
    "SyncService",
]

log = logging.getLogger("pims_sync.sync")

# Other processes take over a run whose top row is silent for RUN_STALE_SECONDS (two
# minutes by default); the service beats well inside it (bootstrap shortens this for less).
HEARTBEAT_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class RunHandle:
    """A started run: its id (the syncId) and the task that ends with its outcome."""

    run_id: UUID
    task: asyncio.Task[SyncOutcome]


class SyncService:
    """The sync pipeline's entry: validate, open the audit row, run in a task."""

    def __init__(
        self,
        *,
        clinics: ClinicDirectory,
        credentials: CredentialSource,
        provider: PimsProvider,
        cases: CaseStore,
        runs: RunStore,
        metrics: MetricsSink = NO_METRICS,
        timeout_seconds: float = 300,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        batch_size: int = 200,
        events: EventBus | None = None,
        heartbeat_seconds: float | None = None,
        budget: DailyBudget | None = None,
        health: ClinicHealthStore | None = None,
        logins: LoginLedger | None = None,
        login_budget: int = DEFAULT_LOGIN_BUDGET,
        mirror: ScheduleMirror | None = None,
    ) -> None:
        self._clinics = clinics
        self._credentials = credentials
        self._provider = provider
        self._cases = cases
        self._runs = runs
        self._metrics = metrics
        self._timeout = timeout_seconds
        self._now = now
        self._batch_size = batch_size
        self._heartbeat_seconds = heartbeat_seconds
        self._budget = budget
        self._health = health
        self._logins = logins
        self._login_budget = login_budget
        self._mirror = mirror
        self.events = events or EventBus()
        self._tasks: dict[UUID, asyncio.Task[SyncOutcome]] = {}
        self._states: dict[UUID, RunState] = {}
        self._closers: set[asyncio.Task[None]] = set()
        self._stopping = False

    @property
    def running(self) -> list[UUID]:
        """Ids of the runs this process is executing."""
        return list(self._tasks)

    async def run(self, request: SyncRequest) -> SyncOutcome:
        """Start a run and wait for its outcome."""
        handle = await self.start(request)
        return await handle.task

    async def start(self, request: SyncRequest) -> RunHandle:
        """Validate, create the audit row (RunInProgressError if busy), run in a task."""
        if self._stopping:
            raise ServiceStoppingError("the service is shutting down; try again shortly")
        clinic = await self._clinics.get(request.clinic_id)
        if clinic is None:
            raise NotFoundError(f"Clinic not found: {request.clinic_id}")
        if not clinic.is_active:  # every trigger: API, CLI, schedule, queued job
            raise ClinicInactiveError(f"Clinic is deactivated: {clinic.id}")
        validate(request, clinic_today(self._now(), clinic.zone))
        state = await self._protected(clinic)
        record = await self._runs.start(
            clinic_id=clinic.id,
            sync_type=request.sync_type,
            triggered_by=request.triggered_by,
            at=self._now(),
        )
        self.events.open(record.id)
        self._states[record.id] = state
        task = asyncio.create_task(
            self._execute(request, clinic, record.id, state, record.started_at),
            name=f"sync-{record.id}",
        )
        self._tasks[record.id] = task
        task.add_done_callback(lambda done: self._forget(record.id, done))
        return RunHandle(run_id=record.id, task=task)

    async def _protected(self, clinic: Clinic) -> RunState:
        """ClinicPausedError for a paused clinic; else the run's state with its login budget."""
        state = RunState(timeout_ms=round(self._timeout * 1000))
        if self._health is None:
            return state
        health = await self._health.health(clinic.id)
        if health.paused:
            raise paused_error(health)
        if self._logins is not None:
            limit = health.settings.login_budget(self._login_budget)
            state.logins = allowance(self._logins, clinic.id, self._now(), limit)
        return state

    def _forget(self, run_id: UUID, task: asyncio.Task[SyncOutcome]) -> None:
        self._tasks.pop(run_id, None)
        state = self._states.pop(run_id, None)
        if task.cancelled() and state is not None and not state.begun:
            # Cancelled before its first step: no handler of the run ever ran.
            closer = asyncio.get_running_loop().create_task(self._close_unstarted(run_id, state))
            self._closers.add(closer)
            closer.add_done_callback(self._closers.discard)
        # Callers of async runs never await the task: its error is in the audit row.
        if not task.cancelled():
            task.exception()

    async def _close_unstarted(self, run_id: UUID, state: RunState) -> None:
        reason = state.cancel_reason()
        result = FailedRun(sync_id=run_id, error=reason, code="cancelled")
        await self._close(run_id, RunStatus.FAILED, RunCounters(), reason, result, code="cancelled")
        await self.events.publish(run_id, _terminal(False, result=result.wire(), error=reason))

    async def shutdown(self, grace_seconds: float = 30) -> None:
        """Take no new runs; let running ones finish for the grace, then stop them."""
        self._stopping = True
        tasks = dict(self._tasks)
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks.values(), timeout=grace_seconds)
        for run_id, task in tasks.items():
            if task in pending:
                state = self._states.get(run_id)
                if state is not None:
                    state.stop_reason = "interrupted by shutdown"
                task.cancel()
        if pending:
            await asyncio.wait(pending)
        if self._closers:
            await asyncio.wait(set(self._closers))

    async def _execute(
        self, request: SyncRequest, clinic: Clinic, run_id: UUID, state: RunState, opened: datetime
    ) -> SyncOutcome:
        started = _Started(time.monotonic(), opened)
        state.begun = True
        self._metrics.run_started()
        beat = asyncio.create_task(self._heartbeat(run_id), name=f"heartbeat-{run_id}")
        try:
            with log_context(clinic_id=clinic.id, sync_id=run_id, phase=request.sync_type.value):
                return await self._guarded(request, clinic, run_id, state, started)
        finally:
            beat.cancel()
            self._metrics.run_stopped()

    async def _heartbeat(self, run_id: UUID) -> None:
        """Keep the top row alive while phases write progress to their own rows."""
        while True:
            await asyncio.sleep(self._heartbeat_seconds or HEARTBEAT_SECONDS)
            try:
                await self._runs.heartbeat(run_id=run_id, at=self._now())
            except Exception:
                log.warning("could not record the run's heartbeat", exc_info=True)

    async def _guarded(
        self, request: SyncRequest, clinic: Clinic, run_id: UUID, state: RunState, started: _Started
    ) -> SyncOutcome:
        """Run the work; whatever happens, the audit row ends completed or failed."""
        failure: dict[str, Any] = {"request": request, "run_id": run_id, "state": state}
        try:
            outcome = await self._bounded(request, clinic, run_id, state)
        except asyncio.CancelledError:
            await self._fail(
                **failure, message=state.cancel_reason(), code="cancelled", started=started
            )
            raise
        except PimsSyncError as error:
            error.context["sync_id"] = str(run_id)
            await self._fail(**failure, message=str(error), code=error.code, started=started)
            raise
        except Exception as error:
            log.exception("sync run failed unexpectedly")
            await self._fail(
                **failure, message="internal error", code="internal_error", started=started
            )
            raise PimsSyncError("sync failed: internal error", sync_id=str(run_id)) from error
        return await self._succeed(request, run_id, outcome, started)

    async def _bounded(
        self, request: SyncRequest, clinic: Clinic, run_id: UUID, state: RunState
    ) -> SyncOutcome:
        """The work under SYNC_TIMEOUT_MS: past it, the run is stopped (SyncTimeoutError)."""
        state.deadline = time.monotonic() + self._timeout
        try:
            async with asyncio.timeout(self._timeout) as deadline:
                return await self._work(request, clinic, run_id, state)
        except TimeoutError:
            if not deadline.expired():
                raise
            raise SyncTimeoutError(f"sync timed out after {state.timeout_ms} ms") from None

    async def _work(
        self, request: SyncRequest, clinic: Clinic, run_id: UUID, state: RunState
    ) -> SyncOutcome:
        # The day's PIMS requests already spent: fail before decrypting or logging in.
        meter = None if self._budget is None else await self._budget.meter(clinic.id, self._now())
        credentials = await self._credentials.load(clinic.id)
        login = ClinicLogin(
            clinic_id=clinic.id,
            credentials=credentials,
            timezone=clinic.timezone,
            meter=meter,
            logins=state.logins,
        )
        # One session, so one login (or one cached session), for every phase of the run.
        async with self._provider.session(login) as session:
            env = RunEnv(
                clinic=clinic,
                run_id=run_id,
                session=session,
                cases=self._cases,
                runs=self._runs,
                events=self.events,
                now=self._now,
                batch_size=self._batch_size,
                metrics=self._metrics,
                mirror=self._mirror,
                state=state,
            )
            await env.publish(
                "log",
                phase=request.sync_type.value,
                message=f"Authenticated with {self._provider.name}",
            )
            today = env.today()
            if request.sync_type is SyncType.FULL:
                return await run_full(env, request, today)
            return await run_single(env, request, today)

    async def _succeed(
        self, request: SyncRequest, run_id: UUID, outcome: SyncOutcome, started: _Started
    ) -> SyncOutcome:
        at, duration = self._ended(started)
        # The reply's durationMs is the whole run's, login included: the audit row's span.
        outcome = replace(outcome, duration_ms=duration, finished_at=at)
        result = outcome.result()
        error = run_error(outcome)
        if isinstance(outcome, FullOutcome):
            counters = outcome.counters()
            await self._full_progress_done(run_id, len(outcome.phases))
        else:
            counters = outcome.report.counters()
        status = RunStatus.FAILED if error else RunStatus.COMPLETED
        code = run_error_code(outcome) if error else None
        await self._close(run_id, status, counters, error, result, at=at, code=code)
        await self._record(request, run_end(run_id, outcome), at)
        published = _terminal(error is None, result=result.wire(), error=error)
        await self.events.publish(run_id, published)
        self._count(request, "completed" if outcome.success else "failed", started)
        log.info("sync run finished: %s", "success" if outcome.success else f"partial ({error})")
        return outcome

    async def _fail(
        self,
        *,
        request: SyncRequest,
        run_id: UUID,
        state: RunState,
        message: str,
        code: str,
        started: _Started,
    ) -> None:
        counters = state.report.counters() if state.report is not None else RunCounters()
        at, duration = self._ended(started)
        result = FailedRun(
            sync_id=run_id, error=message, code=code, duration_ms=duration, timestamp=at
        )
        await self._close(run_id, RunStatus.FAILED, counters, message, result, at=at, code=code)
        end = RunEnd(success=False, code=code, run_id=run_id)
        await self._record(request, end, at)
        terminal = _terminal(False, result=result.wire(), error=message, code=code)
        await self.events.publish(run_id, terminal)
        self._count(request, "failed", started)
        log.warning("sync run failed: %s", message)

    async def _full_progress_done(self, run_id: UUID, phases: int) -> None:
        """A full run's own row at 100 % once its phases ended (docs/pipeline.md#every-run).

        Phases write progress to their own rows; without this the top row, which readers
        of the audit table see first, would stay at 0 %. Its items are the phases.
        """
        try:
            await self._runs.progress(
                run_id=run_id,
                total_items=phases,
                processed_items=phases,
                percentage=100,
                at=self._now(),
            )
        except Exception:
            log.warning("could not record the full run's progress", exc_info=True)

    async def _close(
        self,
        run_id: UUID,
        status: RunStatus,
        counters: RunCounters,
        error: str | None,
        result: CamelModel,
        *,
        at: datetime | None = None,
        code: str | None = None,
    ) -> None:
        try:
            await self._runs.finish(
                run_id=run_id,
                status=status,
                counters=counters,
                error_message=error,
                result=result.wire(),
                at=at or self._now(),
                error_code=code,
            )
        except Exception:
            # The run's outcome still reaches the caller; a crash-recovery pass marks
            # rows left in progress as abandoned.
            log.exception("could not close the audit row")

    async def _record(self, request: SyncRequest, end: RunEnd, at: datetime) -> None:
        """Count the run in its clinic's health (which may pause it); never fails the run."""
        if self._health is None:
            return
        try:
            await self._health.run_ended(clinic_id=request.clinic_id, end=end, at=at)
        except Exception:
            # The outcome still reaches the caller; the next run's end counts again.
            log.exception("could not record the run in the clinic's health")

    def _ended(self, started: _Started) -> tuple[datetime, int]:
        """The run's end and its duration in ms, on the audit row's clock.

        One measurement for the reply's `durationMs`, the audit row (`completed_at -
        started_at`) and `GET /api/sync/{id}`.
        """
        at = self._now()
        return at, max(0, round((at - started.opened).total_seconds() * 1000))

    def _count(self, request: SyncRequest, outcome: str, started: _Started) -> None:
        self._metrics.run_finished(
            sync_type=request.sync_type.value,
            outcome=outcome,
            seconds=time.monotonic() - started.monotonic,
        )


@dataclass(frozen=True, slots=True)
class _Started:
    """When a run began: for metrics (monotonic) and as its audit row says (`started_at`)."""

    monotonic: float
    opened: datetime


def _terminal(success: bool, **data: object) -> RunEvent:
    payload = {k: v for k, v in data.items() if v is not None}
    return RunEvent("completed" if success else "failed", payload)
