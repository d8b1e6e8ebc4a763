"""Full run: inbound → cases over the past part → reconciliation, one login.

See docs/pipeline.md#full-run.
"""

from __future__ import annotations

import time
from datetime import date

from pims_sync.domain.runs import SyncType
from pims_sync.domain.stats import CasesStats, InboundStats, ReconciliationStats, StatsT
from pims_sync.errors import PimsError
from pims_sync.sync.context import PhaseContext, RunEnv
from pims_sync.sync.enrichment import run_enrichment
from pims_sync.sync.inbound import run_inbound
from pims_sync.sync.outcomes import FullOutcome, PhaseOutcome, SyncOutcome
from pims_sync.sync.phases import PhaseBody, execute, outcome_of, run_child
from pims_sync.sync.reconciliation import run_reconciliation
from pims_sync.sync.request import (
    SyncRequest,
    cases_window,
    full_windows,
    inbound_window,
    reconciliation_window,
)

INBOUND_PIMS_FAILED = "skipped: inbound failed because the PIMS failed"


async def _alone(env: RunEnv, stats: StatsT, body: PhaseBody[StatsT]) -> PhaseOutcome[StatsT]:
    """One phase as a whole run: its counters go on the run's own audit row."""
    ctx = env.phase(stats, env.run_id)
    env.state.report = ctx.report
    started = time.monotonic()
    await execute(ctx, body)
    return outcome_of(ctx, started)


async def run_single(env: RunEnv, request: SyncRequest, today: date) -> SyncOutcome:
    """A run of one phase."""
    phase = request.sync_type
    if phase is SyncType.INBOUND:
        ahead = inbound_window(request, today)
        return await _alone(env, InboundStats(), lambda ctx: run_inbound(ctx, ahead))
    if phase is SyncType.CASES:
        past, parallel = cases_window(request, today), request.parallel_batch_size
        return await _alone(
            env, CasesStats(), lambda ctx: run_enrichment(ctx, past, parallel=parallel)
        )
    if phase is SyncType.RECONCILIATION:
        back = reconciliation_window(request, today)
        return await _alone(
            env,
            ReconciliationStats(),
            lambda ctx: run_reconciliation(ctx, back, force=request.force, dry_run=request.dry_run),
        )
    raise ValueError(f"{phase} is not a single phase")


async def run_full(env: RunEnv, request: SyncRequest, today: date) -> FullOutcome:
    """The three phases in order over one session; each has its own audit row."""
    started = time.monotonic()
    windows = full_windows(request, today)
    trigger = request.triggered_by

    async def inbound(ctx: PhaseContext[InboundStats]) -> None:
        await run_inbound(ctx, windows.inbound)

    async def cases(ctx: PhaseContext[CasesStats]) -> None:
        await run_enrichment(ctx, windows.cases, parallel=request.parallel_batch_size)

    async def reconciliation(ctx: PhaseContext[ReconciliationStats]) -> None:
        await run_reconciliation(ctx, windows.reconciliation, force=request.force)

    first = await run_child(env, InboundStats(), trigger, inbound)
    second = await run_child(env, CasesStats(), trigger, cases)
    # Without a trustworthy calendar, "missing from the PIMS" means nothing.
    pims_failed = not first.success and isinstance(first.cause, PimsError)
    third = await run_child(
        env,
        ReconciliationStats(),
        trigger,
        None if pims_failed else reconciliation,
        INBOUND_PIMS_FAILED,
    )
    return FullOutcome(
        run_id=env.run_id,
        inbound=first,
        cases=second,
        reconciliation=third,
        finished_at=env.now(),
        duration_ms=round((time.monotonic() - started) * 1000),
    )
