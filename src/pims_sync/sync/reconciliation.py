"""Reconciliation: cases whose appointment left the PIMS are soft-deleted.

See docs/pipeline.md#reconciliation.

Decisions (docs/pipeline.md#decisions): a soft-deleted case whose appointment is back is restored
here (and by inbound, which sees it first in a full run); a cancelled / no-show
appointment updates the case status here under the same "follow the PIMS only while
nobody else changed it" rule as inbound, so in a full run inbound has usually applied
it already and reconciliation counts it only when it ran alone.

Malformed calendar events (`CalendarPage.rejected`): one whose id is readable proves its
appointment exists, so its case is left alone; one without a readable id could be any
case's, so while the window has one, no case is deleted (HOLD; restores and status
updates go on) and the result says so in `deletionsHeld`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import Appointment, CalendarPage
from pims_sync.domain.case_metadata import (
    REMOVED_FROM_PIMS,
    is_soft_deleted,
    soft_delete,
    stored_pims_status,
)
from pims_sync.domain.cases import CaseStatus, external_id, follow_pims_status, map_status
from pims_sync.domain.stats import ReconciliationStats
from pims_sync.errors import ReconciliationGuardError
from pims_sync.ports.store import CaseWrite, StoredCase
from pims_sync.shapes.results import DeletionsHeld, PlannedChange, RejectedEventError
from pims_sync.sync.context import PhaseContext
from pims_sync.sync.inbound import fetch_calendar, plan_case
from pims_sync.sync.mirror import record_mirror
from pims_sync.sync.windows import DateWindow

log = logging.getLogger(__name__)

DELETE, RESTORE, UPDATE, HOLD = "delete", "restore", "update", "hold"
REASONS = {
    DELETE: REMOVED_FROM_PIMS,
    RESTORE: "reappeared_in_pims",
    UPDATE: "cancelled_in_pims",
}
# The guard: refuse to delete more than this share of the window's cases...
GUARD_SHARE = 0.5
# ...when that is more than this many cases.
GUARD_MIN_DELETIONS = 5


def _followed_status(case: StoredCase, appointment: Appointment, current: str) -> str:
    return follow_pims_status(
        stored=current,
        previous_pims_status=stored_pims_status(case.metadata),
        new_pims_status=appointment.status,
    )


@dataclass(frozen=True, slots=True)
class Listing:
    """What the PIMS listed for the window, readable or not."""

    present: Mapping[str, Appointment]
    unreadable: frozenset[str] = frozenset()  # external ids of events that could not be read
    unidentified: int = 0  # unreadable events without a readable id

    @classmethod
    def of(cls, page: CalendarPage) -> Listing:
        """The listing of a calendar page."""
        return cls(
            present={external_id(a.appointment_id): a for a in page.appointments},
            unreadable=frozenset(
                external_id(r.appointment_id) for r in page.rejected if r.appointment_id
            ),
            unidentified=sum(1 for r in page.rejected if r.appointment_id is None),
        )


def decide(case: StoredCase, listing: Listing) -> str | None:
    """What reconciliation does to one case: delete, hold, restore, update or nothing."""
    appointment = listing.present.get(case.external_id)
    deleted = is_soft_deleted(case.metadata)
    if appointment is None:
        if deleted or case.external_id in listing.unreadable:
            return None  # listed but unreadable: it exists, and we cannot say more
        return HOLD if listing.unidentified else DELETE
    if deleted:
        return RESTORE
    cancelled = map_status(appointment.status) is CaseStatus.REVIEWED
    if cancelled and _followed_status(case, appointment, case.status) != case.status:
        return UPDATE
    return None


@dataclass(frozen=True, slots=True)
class Change:
    """One planned change."""

    action: str
    case: StoredCase

    def planned(self) -> PlannedChange:
        """`{caseId, externalId, reason}`, as a dry run lists it."""
        return PlannedChange(
            case_id=self.case.id, external_id=self.case.external_id, reason=REASONS[self.action]
        )


def apply_change(
    action: str,
    case: StoredCase,
    appointment: Appointment | None,
    *,
    zone: ZoneInfo,
    now: datetime,
    sync_id: str,
) -> CaseWrite:
    """The row to write for one decided change."""
    status, metadata = case.status, dict(case.metadata)
    if action == DELETE:
        metadata = soft_delete(metadata, previous_status=case.status, sync_id=sync_id, at=now)
        status = CaseStatus.REVIEWED.value
    elif appointment is not None:
        # Restored or cancelled: written as inbound writes an appointment it sees. Status,
        # type, time and the patients row follow the PIMS with the metadata, else the next
        # inbound, finding `pimsAppointment` up to date, would leave them stale for good.
        write, _ = plan_case(case, appointment, zone=zone, now=now)
        if write is not None:
            return write
    return CaseWrite(
        id=case.id,
        external_id=case.external_id,
        source=case.source,
        status=status,
        type=case.type,
        scheduled_at=case.scheduled_at,
        metadata=metadata,
    )


def check_guard(
    page: CalendarPage, cases: Sequence[StoredCase], deletions: int, window: DateWindow
) -> str | None:
    """Why the guard refuses this run (None when it may go ahead)."""
    live = sum(1 for case in cases if not is_soft_deleted(case.metadata))
    if live and not page.appointments and not page.rejected:
        return (
            f"the PIMS listed no appointments for {window.first} to {window.last} but the "
            f"clinic has {live} cases there; refusing to delete them all "
            "(repeat with force=true if they were really removed)"
        )
    if deletions > GUARD_SHARE * live and deletions > GUARD_MIN_DELETIONS:
        return (
            f"reconciliation would delete {deletions} of {live} cases in {window.first} to "
            f"{window.last}; refusing (repeat with force=true if they were really removed)"
        )
    return None


async def _calendar(
    ctx: PhaseContext[ReconciliationStats], window: DateWindow
) -> tuple[CalendarPage, bool]:
    """The window's calendar, and whether it was fetched now (False: inbound's, reused)."""
    reused = ctx.env.calendar.covering(window, ctx.env.zone)
    if reused is not None:
        await ctx.say("Reusing the calendar fetched by inbound")
        return reused, False
    return await fetch_calendar(ctx, window), True


async def _write(
    ctx: PhaseContext[ReconciliationStats], changes: Sequence[Change], listing: Listing
) -> dict[UUID, str]:
    """Write the changes in batches, re-deciding on the locked rows; returns what was done."""
    env, done = ctx.env, {}
    now, sync_id = env.now(), str(env.run_id)
    size = max(1, env.batch_size)
    for offset in range(0, len(changes), size):
        keys = [change.case.external_id for change in changes[offset : offset + size]]

        def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
            writes = []
            for case in stored.values():
                action = decide(case, listing)
                if action is not None and action != HOLD:
                    appointment = listing.present.get(case.external_id)
                    writes.append(
                        apply_change(
                            action, case, appointment, zone=env.zone, now=now, sync_id=sync_id
                        )
                    )
                    done[case.id] = action
            return writes

        await env.cases.apply(clinic_id=env.clinic.id, external_ids=keys, plan=plan)
        await ctx.progress.update(offset + len(keys), len(changes))
    return done


def _record(ctx: PhaseContext[ReconciliationStats], done: Mapping[UUID, str]) -> list[UUID]:
    deleted = [case_id for case_id, action in done.items() if action == DELETE]
    stats = ctx.stats
    stats.cases_deleted += len(deleted)
    stats.cases_restored += sum(1 for a in done.values() if a == RESTORE)
    stats.cases_updated += sum(1 for a in done.values() if a == UPDATE)
    ctx.written("deleted", stats.cases_deleted)
    ctx.written("restored", stats.cases_restored)
    ctx.written("updated", stats.cases_updated)
    return deleted


def _preview(
    ctx: PhaseContext[ReconciliationStats], changes: Sequence[Change], refusal: str | None
) -> None:
    """What a dry run reports: the changes it would make, and the guard it would meet."""
    details = ctx.report.details
    details.dry_run = True
    details.would_delete = [c.planned() for c in changes if c.action == DELETE]
    details.would_restore = [c.planned() for c in changes if c.action == RESTORE]
    details.would_update = [c.planned() for c in changes if c.action == UPDATE]
    details.guard = refusal


async def _report_unreadable(
    ctx: PhaseContext[ReconciliationStats], page: CalendarPage, held: int, window: DateWindow
) -> None:
    """List the window's unreadable events; say why deletions were held, if they were."""
    for item in page.rejected:
        ctx.report.fail_item(
            RejectedEventError(
                message=item.describe(),
                index=item.index,
                reason=item.reason,
                appointment_id=item.appointment_id,
            )
        )
    unidentified = sum(1 for r in page.rejected if r.appointment_id is None)
    if not unidentified:
        return
    message = (
        f"deletions held: {unidentified} calendar event(s) in {window.first} to {window.last} "
        "could not be read and have no readable id, so a case missing from the calendar may "
        f"be one of them; {held} case(s) not deleted until the calendar reads cleanly"
    )
    ctx.report.details.deletions_held = DeletionsHeld(cases=held, reason=message)
    log.warning("%s", message)
    await ctx.say(message)


async def run_reconciliation(
    ctx: PhaseContext[ReconciliationStats],
    window: DateWindow,
    *,
    force: bool = False,
    dry_run: bool = False,
) -> None:
    """Compare the window's PIMS cases with the calendar; delete, restore, update."""
    env = ctx.env
    start, end = window.start_instant(env.zone), window.end_instant(env.zone)
    # The PIMS is read first: if it fails, nothing below runs and nothing is deleted.
    page, fetched = await _calendar(ctx, window)
    if fetched and not dry_run:
        # Inbound wrote the page it fetched to the mirror; this one is new.
        await record_mirror(ctx, window, page, force=force)
    cases = await env.cases.cases_between(clinic_id=env.clinic.id, start=start, end=end)
    listing = Listing.of(page)
    ctx.stats.cases_checked += len(cases)
    decided = [Change(a, c) for c in cases if (a := decide(c, listing)) is not None]
    changes = [change for change in decided if change.action != HOLD]
    deletions = sum(1 for change in changes if change.action == DELETE)
    refusal = None if force else check_guard(page, cases, deletions, window)
    await ctx.say(f"Checked {len(cases)} cases against {len(page)} appointments")
    await _report_unreadable(ctx, page, len(decided) - len(changes), window)
    if dry_run:
        _preview(ctx, changes, refusal)
        ctx.report.details.deleted_case_ids = []
        await ctx.progress.complete(len(cases))
        return
    if refusal is not None:
        raise ReconciliationGuardError(refusal, deletions=deletions)
    await ctx.progress.update(0, len(changes))
    deleted = _record(ctx, await _write(ctx, changes, listing))
    ctx.report.details.deleted_case_ids = deleted
    await ctx.progress.complete(len(changes))
    await ctx.say(f"Soft-deleted {len(deleted)} cases, restored {ctx.stats.cases_restored}")
