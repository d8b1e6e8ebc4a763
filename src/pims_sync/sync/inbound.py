"""Inbound: appointments overlapping a date window → cases created, updated or skipped."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import uuid4
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import Appointment, CalendarPage, RejectedEvent, overlaps
from pims_sync.domain.case_metadata import (
    is_soft_deleted,
    merge_inbound,
    pims_changed,
    restore,
    stored_appointment,
    stored_pims_status,
)
from pims_sync.domain.cases import (
    SOURCE_IDEXX_NEO,
    external_id,
    follow_pims_status,
    follow_pims_type,
    is_known_status,
    map_status,
    map_type,
)
from pims_sync.domain.stats import InboundStats, ReconciliationStats
from pims_sync.errors import PimsPayloadError
from pims_sync.ports.store import CaseWrite, StoredCase
from pims_sync.shapes.results import FailedAppointment, RejectedEventError
from pims_sync.sync.context import CalendarContext, PhaseContext
from pims_sync.sync.mirror import record_mirror
from pims_sync.sync.patients import patient_row
from pims_sync.sync.windows import DateWindow

log = logging.getLogger(__name__)

# Far above any clinic's day; more means the parser is reading something else.
MAX_APPOINTMENTS_PER_DAY = 500
# Unreadable events are per-item errors, until there are so many that the payload as a whole
# looks changed: more than this share of the listed appointments AND more than this many.
MAX_REJECTED_SHARE = 0.2
MAX_REJECTED_EVENTS = 3

CREATED, UPDATED, SKIPPED, FAILED = "created", "updated", "skipped", "failed"


def check_plausible(page: CalendarPage, window: DateWindow, zone: ZoneInfo) -> None:
    """Refuse a calendar that parses but cannot be real, before anything is written.

    Its appointments overlap the window (a stay that began before it is one of them).
    """
    start, end = window.start_instant(zone), window.end_instant(zone)
    for appointment in page.appointments:
        if not appointment.appointment_id.strip():
            raise PimsPayloadError("the calendar listed an appointment without an id")
        if not overlaps(appointment.start, appointment.end, start, end):
            raise PimsPayloadError("the calendar listed an appointment outside the window asked")
    limit = window.days * MAX_APPOINTMENTS_PER_DAY
    if page.listed > limit:
        raise PimsPayloadError(
            f"the calendar listed {page.listed} appointments for {window.days} days "
            f"(more than {MAX_APPOINTMENTS_PER_DAY} a day is not plausible)"
        )
    rejected = len(page.rejected)
    if rejected > MAX_REJECTED_EVENTS and rejected > MAX_REJECTED_SHARE * page.listed:
        reasons = "; ".join(sorted({r.reason for r in page.rejected})[:3])
        raise PimsPayloadError(
            f"calendar payload looks changed: {rejected} of {page.listed} appointment events "
            f"could not be read ({reasons}); nothing was written"
        )


async def fetch_calendar(ctx: CalendarContext, window: DateWindow) -> CalendarPage:
    """The window's appointments, fetched in chunks of at most 31 days, checked."""
    zone, page = ctx.env.zone, CalendarPage()
    for chunk in window.chunks():
        part = await ctx.env.session.fetch_appointments(
            chunk.start_instant(zone), chunk.end_instant(zone)
        )
        page = page.merged(part)
    report_tolerated(ctx.stats, page)
    check_plausible(page, window, zone)
    ctx.env.calendar.put(window, page)
    return page


def report_tolerated(stats: InboundStats | ReconciliationStats, page: CalendarPage) -> None:
    """Count what the calendar sent that was tolerated: ignored events, coerced fields."""
    stats.events_outside_window += page.outside_window
    stats.fields_coerced += page.coerced
    if page.outside_window or page.coerced:
        log.info(
            "calendar tolerated: %d event(s) outside the window ignored, %d field(s) coerced",
            page.outside_window,
            page.coerced,
            extra={"events_outside_window": page.outside_window, "fields_coerced": page.coerced},
        )


def _new_case(appointment: Appointment, metadata: dict[str, Any]) -> CaseWrite:
    # The patient row comes from the merged metadata, like an update's (one rule).
    return CaseWrite(
        id=uuid4(),
        external_id=external_id(appointment.appointment_id),
        source=SOURCE_IDEXX_NEO,
        status=map_status(appointment.status).value,
        type=map_type(appointment.type_description).value,
        scheduled_at=appointment.start.astimezone(UTC),
        metadata=metadata,
        patient=patient_row(metadata),
    )


def plan_case(
    stored: StoredCase | None, appointment: Appointment, *, zone: ZoneInfo, now: datetime
) -> tuple[CaseWrite | None, str]:
    """What inbound writes for one appointment, and whether that is a create/update/skip."""
    if stored is None:
        return _new_case(appointment, merge_inbound({}, appointment, zone=zone, now=now)), CREATED
    deleted = is_soft_deleted(stored.metadata)
    moved = stored.scheduled_at != appointment.start
    if not deleted and not moved and not pims_changed(stored.metadata, appointment, zone=zone):
        return None, SKIPPED
    metadata = merge_inbound(stored.metadata, appointment, zone=zone, now=now)
    current = stored.status
    if deleted:
        # The appointment is in the PIMS again: it was not removed after all.
        metadata, current = restore(metadata, fallback_status=stored.status)
    previous_type = stored_appointment(stored.metadata).get("type")
    write = CaseWrite(
        id=stored.id,
        external_id=stored.external_id,
        source=stored.source,
        status=follow_pims_status(
            stored=current,
            previous_pims_status=stored_pims_status(stored.metadata),
            new_pims_status=appointment.status,
        ),
        type=follow_pims_type(
            stored=stored.type,
            previous_pims_type=previous_type if isinstance(previous_type, str) else None,
            new_pims_type=appointment.type_description,
        ),
        scheduled_at=appointment.start.astimezone(UTC),
        metadata=metadata,
        patient=patient_row(metadata),
    )
    return write, UPDATED


async def _write_batch(
    ctx: PhaseContext[InboundStats], batch: Sequence[Appointment]
) -> dict[str, str]:
    """One `CaseStore.apply` for the batch; returns the decision per external id."""
    by_id = {external_id(a.appointment_id): a for a in batch}
    decisions: dict[str, str] = {}
    zone, now = ctx.env.zone, ctx.env.now()

    def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
        decisions.clear()
        writes: list[CaseWrite] = []
        for key, appointment in by_id.items():
            try:
                write, decision = plan_case(stored.get(key), appointment, zone=zone, now=now)
            except Exception:  # noqa: BLE001 - one odd appointment must not sink its batch
                log.warning("appointment %s could not be mapped", appointment.appointment_id)
                decisions[key] = FAILED
                continue
            decisions[key] = decision
            if write is not None:
                writes.append(write)
        return writes

    await ctx.env.cases.apply(clinic_id=ctx.env.clinic.id, external_ids=list(by_id), plan=plan)
    return decisions


def _log_unknown_statuses(appointments: Sequence[Appointment]) -> None:
    unknown = sorted({a.status or "" for a in appointments if not is_known_status(a.status)})
    if unknown:
        log.warning("unknown PIMS statuses mapped to draft: %s", ", ".join(unknown))


def report_rejected(ctx: PhaseContext[InboundStats], rejected: Sequence[RejectedEvent]) -> None:
    """Each unreadable event is a failed item: counted, listed in `errors`, logged (ids only)."""
    for item in rejected:
        ctx.stats.cases_failed += 1
        known = item.appointment_id
        ctx.report.fail_item(
            RejectedEventError(
                message=item.describe(),
                index=item.index,
                reason=item.reason,
                appointment_id=known,
                external_id=None if known is None else external_id(known),
            )
        )
        log.warning("%s", item.describe())


def _count(ctx: PhaseContext[InboundStats], decisions: Mapping[str, str]) -> None:
    """Count what became of a batch's appointments; each failed one is a failed item."""
    stats, made = ctx.stats, Counter(decisions.values())
    stats.cases_created += made[CREATED]
    stats.cases_updated += made[UPDATED]
    stats.cases_skipped += made[SKIPPED]
    stats.cases_failed += made[FAILED]
    for key, decision in decisions.items():
        if decision == FAILED:
            message = f"Failed to process appointment {key}"
            ctx.report.fail_item(FailedAppointment(message=message, external_id=key))


async def run_inbound(ctx: PhaseContext[InboundStats], window: DateWindow) -> None:
    """Fetch the window's appointments and create or update their cases in batches.

    Unreadable events are reported per item and their cases left as they are; the run
    writes the others (check_plausible fails it first when too many are unreadable).
    """
    page = await fetch_calendar(ctx, window)
    appointments = sorted(page.appointments, key=lambda a: (a.start, a.appointment_id))
    unreadable = len(page.rejected)
    total, stats = page.listed, ctx.stats
    stats.appointments_found += total
    found = f"Found {len(appointments)} appointments ({window.first} to {window.last})"
    await ctx.say(found + (f", {unreadable} unreadable" if unreadable else ""))
    await record_mirror(ctx, window, page)
    report_rejected(ctx, page.rejected)
    _log_unknown_statuses(appointments)
    await ctx.progress.update(unreadable, total)
    size = max(1, ctx.env.batch_size)
    for offset in range(0, len(appointments), size):
        batch = appointments[offset : offset + size]
        _count(ctx, await _write_batch(ctx, batch))
        await ctx.progress.update(unreadable + offset + len(batch), total)
    await ctx.progress.complete(total)
    ctx.written("created", stats.cases_created)
    ctx.written("updated", stats.cases_updated)
    failed = stats.cases_failed
    await ctx.say(
        f"Created {stats.cases_created} cases, updated {stats.cases_updated}, "
        f"skipped {stats.cases_skipped}" + (f", failed {failed}" if failed else "")
    )
