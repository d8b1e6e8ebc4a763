"""Cases (enrichment): past cases with a consultation → fetch it → write it in.

See docs/pipeline.md#cases-enrichment.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from collections.abc import Mapping, Sequence
from datetime import datetime

from pims_sync.domain.case_metadata import (
    consultation_id_of,
    merge_enrichment,
    needs_enrichment,
)
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.stats import CasesStats
from pims_sync.errors import (
    PimsAuthError,
    PimsBudgetExhaustedError,
    PimsLoginBudgetExhaustedError,
    PimsLoginPageChangedError,
    PimsNotFoundError,
    PimsRetriesExhaustedError,
    PimsSyncError,
    PimsTwoFactorRequiredError,
)
from pims_sync.ports.store import CaseWrite, StoredCase
from pims_sync.shapes.results import FailedCase
from pims_sync.sync.context import PhaseContext
from pims_sync.sync.patients import patient_row
from pims_sync.sync.windows import DateWindow

log = logging.getLogger(__name__)

# These mean the session itself is gone: no later fetch can succeed, stop the phase.
SESSION_FAILURES = (
    PimsAuthError,
    PimsLoginPageChangedError,
    PimsTwoFactorRequiredError,
    PimsBudgetExhaustedError,  # the day's PIMS requests are spent: the rest would fail too
    PimsLoginBudgetExhaustedError,  # a renewal past the day's logins: no session any more
)

Fetched = Consultation | PimsSyncError
# This many consultations in a row failing through every retry: the PIMS is down, not an item.
OUTAGE_AFTER = 3


async def find_candidates(ctx: PhaseContext[CasesStats], window: DateWindow) -> list[StoredCase]:
    """Cases in [start, min(end, now)] whose consultation is missing or may have changed."""
    env, now = ctx.env, ctx.env.now()
    start = window.start_instant(env.zone)
    end = min(window.end_instant(env.zone), now)
    if end <= start:
        return []
    stored = await env.cases.cases_between(clinic_id=env.clinic.id, start=start, end=end)
    return [
        case
        for case in stored
        if needs_enrichment(case.metadata, scheduled_at=case.scheduled_at, now=now)
    ]


async def _fetch_all(
    ctx: PhaseContext[CasesStats], groups: Mapping[str, Sequence[StoredCase]], parallel: int
) -> tuple[dict[str, Fetched], PimsRetriesExhaustedError | None]:
    """Every consultation, at most `parallel` in flight; per-item failures are kept.

    Also returns the outage that stopped the fetching, if the PIMS went away mid-phase.
    """
    results: dict[str, Fetched] = {}
    gate = asyncio.Semaphore(max(1, parallel))
    total = sum(len(cases) for cases in groups.values())
    done = 0
    in_a_row: list[PimsRetriesExhaustedError] = []
    outage: list[PimsRetriesExhaustedError] = []

    async def fetch(consultation_id: str) -> None:
        nonlocal done
        async with gate:
            if outage:
                # The PIMS stopped answering through all retries: the rest would only wait.
                results[consultation_id] = outage[0]
            else:
                try:
                    fetched = await ctx.env.session.fetch_consultation(consultation_id)
                    results[consultation_id] = fetched
                    in_a_row.clear()
                except SESSION_FAILURES:
                    raise
                except PimsRetriesExhaustedError as error:
                    results[consultation_id] = error
                    in_a_row.append(error)
                    if len(in_a_row) >= OUTAGE_AFTER:
                        outage.append(error)
                except PimsSyncError as error:
                    results[consultation_id] = error
        done += len(groups[consultation_id])
        await ctx.progress.update(done, total)

    try:
        async with asyncio.TaskGroup() as group:
            for consultation_id in groups:
                group.create_task(fetch(consultation_id))
    except BaseExceptionGroup as failure:
        raise failure.exceptions[0] from None
    return results, outage[0] if outage else None


async def _write(
    ctx: PhaseContext[CasesStats], found: Mapping[str, Consultation], cases: list[StoredCase]
) -> int:
    """Write the consultations into their cases in batches; returns how many were written."""
    env, now, written = ctx.env, ctx.env.now(), 0
    size = max(1, env.batch_size)
    for offset in range(0, len(cases), size):
        batch = {case.external_id: case for case in cases[offset : offset + size]}

        def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
            return [_enriched(case, found, now) for case in stored.values() if _has(case, found)]

        writes = await env.cases.apply(clinic_id=env.clinic.id, external_ids=list(batch), plan=plan)
        written += len(writes)
    return written


def _has(case: StoredCase, found: Mapping[str, Consultation]) -> bool:
    return consultation_id_of(case.metadata) in found


def _enriched(case: StoredCase, found: Mapping[str, Consultation], now: datetime) -> CaseWrite:
    consultation = found[consultation_id_of(case.metadata) or ""]
    metadata = merge_enrichment(case.metadata, consultation, now=now)
    return CaseWrite(
        id=case.id,
        external_id=case.external_id,
        source=case.source,
        status=case.status,
        type=case.type,
        scheduled_at=case.scheduled_at,
        metadata=metadata,
        # The whole row from the merged metadata: owner fields are not blanked.
        patient=patient_row(metadata),
    )


def _tally(
    ctx: PhaseContext[CasesStats],
    groups: Mapping[str, Sequence[StoredCase]],
    results: Mapping[str, Fetched],
) -> None:
    """Count skipped (not available yet) and failed cases; raise if every fetch failed.

    A consultation the PIMS has not got, or refuses for now (404, a 200 `success: false`),
    is not available yet: its cases are skipped, and fetched again by the next run (they
    still need enrichment). Such an answer proves the PIMS works, so it is no failure.
    """
    stats, last_error = ctx.stats, None
    for consultation_id, outcome in results.items():
        cases = groups[consultation_id]
        if isinstance(outcome, PimsNotFoundError):
            stats.cases_skipped += len(cases)
            stats.consultations_not_ready += 1
        elif isinstance(outcome, PimsSyncError):
            last_error = outcome
            stats.cases_failed += len(cases)
            for case in cases:
                # The PIMS error's text names ids, statuses, fields and sizes, never people.
                ctx.report.fail_item(
                    FailedCase(
                        message=f"Failed to enrich case {case.id}: {outcome.code}",
                        case_id=case.id,
                        consultation_id=consultation_id,
                        reason=str(outcome),
                    )
                )
    failed_all = all(
        isinstance(r, PimsSyncError) and not isinstance(r, PimsNotFoundError)
        for r in results.values()
    )
    if last_error is not None and failed_all:
        # Not one consultation could be read: the PIMS is down for us, not one item.
        raise last_error


async def run_enrichment(
    ctx: PhaseContext[CasesStats], window: DateWindow, *, parallel: int
) -> None:
    """Fetch the consultations of the window's candidate cases and write them in."""
    candidates = await find_candidates(ctx, window)
    ctx.stats.cases_found += len(candidates)
    await ctx.say(f"Found {len(candidates)} cases to enrich ({window.first} to {window.last})")
    groups: dict[str, list[StoredCase]] = defaultdict(list)
    for case in candidates:
        groups[consultation_id_of(case.metadata) or ""].append(case)
    await ctx.progress.update(0, len(candidates))
    results, outage = await _fetch_all(ctx, groups, parallel)
    _tally(ctx, groups, results)
    found = {cid: r for cid, r in results.items() if isinstance(r, Consultation)}
    to_write = [case for cid in found for case in groups[cid]]
    enriched = await _write(ctx, found, to_write)
    ctx.stats.cases_enriched += enriched
    await ctx.progress.complete(len(candidates))
    ctx.written("enriched", enriched)
    not_ready = ctx.stats.consultations_not_ready
    later = f", {not_ready} consultation(s) not available yet (next run)" if not_ready else ""
    await ctx.say(f"Enriched {enriched} cases{later}")
    if outage is not None:
        # What was fetched is kept; the phase fails: the PIMS went away, not one item.
        raise outage
