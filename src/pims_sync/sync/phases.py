"""Running one phase: its body by type, its audit row, its events, metrics and logs."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any
from uuid import UUID

from pims_sync.domain.runs import RunStatus, Trigger
from pims_sync.domain.stats import StatsT
from pims_sync.errors import (
    PimsAuthError,
    PimsBrowserUnavailableError,
    PimsBudgetExhaustedError,
    PimsLoginBudgetExhaustedError,
    PimsLoginPageChangedError,
    PimsSyncError,
    PimsTwoFactorRequiredError,
)
from pims_sync.logs import log_context
from pims_sync.shapes.base import CamelModel
from pims_sync.shapes.results import AbortedPhase, stats_json
from pims_sync.sync.context import PhaseContext, RunEnv
from pims_sync.sync.outcomes import PhaseOutcome, PhaseReport

log = logging.getLogger(__name__)

PhaseBody = Callable[[PhaseContext[StatsT]], Awaitable[None]]
# A login refused or impossible mid-run: no later phase could log in either.
# These fail the whole run, not just the phase (the daily request budget too: no phase
# could send a request; nor without a browser).
LOGIN_FAILURES = (
    PimsAuthError,
    PimsBrowserUnavailableError,
    PimsLoginPageChangedError,
    PimsTwoFactorRequiredError,
    PimsBudgetExhaustedError,
    PimsLoginBudgetExhaustedError,
)


def outcome_of(
    ctx: PhaseContext[StatsT],
    started: float,
    error: BaseException | None = None,
    *,
    skipped: bool = False,
) -> PhaseOutcome[StatsT]:
    """The outcome of a phase that ended (with `error` when it failed)."""
    message = code = None
    if error is not None:
        message = str(error) if isinstance(error, PimsSyncError) else "internal error"
        code = error.code if isinstance(error, PimsSyncError) else "internal_error"
    return PhaseOutcome(
        run_id=ctx.row_id,
        success=error is None,
        report=ctx.report,
        finished_at=ctx.env.now(),
        duration_ms=round((time.monotonic() - started) * 1000),
        error=message,
        error_code=code,
        skipped=skipped,
        cause=error,
    )


async def close_row(
    env: RunEnv, row_id: UUID, report: PhaseReport[Any], result: CamelModel, error: str | None
) -> None:
    """Mark an audit row completed, or failed with its error message."""
    await env.runs.finish(
        run_id=row_id,
        status=RunStatus.FAILED if error is not None else RunStatus.COMPLETED,
        counters=report.counters(),
        error_message=error,
        result=result.wire(),
        at=env.now(),
    )


async def execute(ctx: PhaseContext[StatsT], body: PhaseBody[StatsT]) -> None:
    """Run a phase body inside its log context, with its phase events and duration."""
    env, started = ctx.env, time.monotonic()
    with log_context(phase=ctx.phase.value):
        await env.publish("phase", phase=ctx.phase.value, status="started", syncId=str(ctx.row_id))
        try:
            await body(ctx)
        finally:
            env.metrics.phase_finished(phase=ctx.phase.value, seconds=time.monotonic() - started)
        stats = stats_json(ctx.report.stats)
        await env.publish("phase", phase=ctx.phase.value, status="completed", stats=stats)


async def run_child(
    env: RunEnv,
    stats: StatsT,
    trigger: Trigger,
    body: PhaseBody[StatsT] | None,
    skip_reason: str = "",
) -> PhaseOutcome[StatsT]:
    """One phase of a full run, with its own audit row (`parent_id`); failures are kept."""
    record = await env.runs.start(
        clinic_id=env.clinic.id,
        sync_type=stats.phase,
        triggered_by=trigger,
        parent_id=env.run_id,
        at=env.now(),
    )
    ctx, started = env.phase(stats, record.id), time.monotonic()
    if body is None:
        outcome = outcome_of(ctx, started, PimsSyncError(skip_reason), skipped=True)
        await close_row(env, record.id, ctx.report, outcome.result(alone=False), outcome.error)
        await env.publish("phase", phase=ctx.phase.value, status="skipped", message=skip_reason)
        return outcome
    try:
        await execute(ctx, body)
    except asyncio.CancelledError:
        reason = env.state.cancel_reason()
        await close_row(env, record.id, ctx.report, AbortedPhase(error=reason), reason)
        raise
    except LOGIN_FAILURES as error:
        # A login that fails mid-run fails the whole run, not just this phase.
        aborted = AbortedPhase(error=str(error))
        await close_row(env, record.id, ctx.report, aborted, str(error))
        raise
    except Exception as error:  # noqa: BLE001 - a failed phase is reported, the run goes on
        return await _failed(env, ctx, started, error)
    outcome = outcome_of(ctx, started)
    await close_row(env, record.id, ctx.report, outcome.result(alone=False), None)
    return outcome


async def _failed(
    env: RunEnv, ctx: PhaseContext[StatsT], started: float, error: Exception
) -> PhaseOutcome[StatsT]:
    if isinstance(error, PimsSyncError):
        log.warning("phase %s failed: %s", ctx.phase.value, error)
    else:
        log.exception("phase %s failed unexpectedly", ctx.phase.value)
    outcome = outcome_of(ctx, started, error)
    await close_row(env, ctx.row_id, ctx.report, outcome.result(alone=False), outcome.error)
    await env.publish("phase", phase=ctx.phase.value, status="failed", error=outcome.error)
    return outcome
