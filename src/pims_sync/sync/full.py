"""Full run: inbound → cases over the past part → reconciliation, one login.

See docs/pipeline.md#full-run.
"""

from __future__ import annotations

import time
from datetime import date

from pims_sync.domain.runs import SyncType
from pims_sync.errors import PimsError
from pims_sync.sync.context import PhaseContext, RunEnv
from pims_sync.sync.enrichment import run_enrichment
from pims_sync.sync.inbound import run_inbound
from pims_sync.sync.outcomes import FullOutcome
from pims_sync.sync.phases import PhaseBody, run_child
from pims_sync.sync.reconciliation import run_reconciliation
from pims_sync.sync.request import (
    SyncRequest,
    cases_window,
    full_windows,
    inbound_window,
    reconciliation_window,
)

INBOUND_PIMS_FAILED = "skipped: inbound failed because the PIMS failed"


def single_body(request: SyncRequest, today: date) -> PhaseBody:
    """The body of a single-phase run."""
    phase = request.sync_type
    if phase is SyncType.INBOUND:
        window = inbound_window(request, today)
        return lambda ctx: run_inbound(ctx, window)
    if phase is SyncType.CASES:
        window = cases_window(request, today)
        return lambda ctx: run_enrichment(ctx, window, parallel=request.parallel_batch_size)
    if phase is SyncType.RECONCILIATION:
        window = reconciliation_window(request, today)
        return lambda ctx: run_reconciliation(
            ctx, window, force=request.force, dry_run=request.dry_run
        )
    raise ValueError(f"{phase} is not a single phase")


async def run_full(env: RunEnv, request: SyncRequest, today: date) -> FullOutcome:
    """The three phases in order over one session; each has its own audit row."""
    started = time.monotonic()
    windows = full_windows(request, today)
    trigger = request.triggered_by

    async def inbound(ctx: PhaseContext) -> None:
        await run_inbound(ctx, windows.inbound)

    async def cases(ctx: PhaseContext) -> None:
        await run_enrichment(ctx, windows.cases, parallel=request.parallel_batch_size)

    async def reconciliation(ctx: PhaseContext) -> None:
        await run_reconciliation(ctx, windows.reconciliation, force=request.force)

    first = await run_child(env, SyncType.INBOUND, trigger, inbound)
    second = await run_child(env, SyncType.CASES, trigger, cases)
    # Without a trustworthy calendar, "missing from the PIMS" means nothing.
    pims_failed = not first.success and isinstance(first.cause, PimsError)
    third = await run_child(
        env,
        SyncType.RECONCILIATION,
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
