"""The schedule mirror's part of a run: each calendar fetch is written to it, counted, said."""

from __future__ import annotations

import logging
from datetime import timedelta

from pims_sync.domain.appointments import CalendarPage
from pims_sync.domain.mirror import MirrorListing
from pims_sync.sync.context import CalendarContext
from pims_sync.sync.windows import DateWindow

log = logging.getLogger(__name__)


async def record_mirror(
    ctx: CalendarContext, window: DateWindow, page: CalendarPage, *, force: bool = False
) -> None:
    """Write what the PIMS listed for `window` to the mirror (no PIMS request of its own).

    Called only with a page the PIMS really gave (a failed fetch raised before): removals
    follow the mirror's own guard (domain/mirror.py), lifted by a forced reconciliation.
    """
    env = ctx.env
    if env.mirror is None:
        return
    zone = env.zone
    listing = MirrorListing.of(page, window.start_instant(zone), window.end_instant(zone))
    days = [window.first + timedelta(days=offset) for offset in range(window.days)]
    plan = await env.mirror.record(
        clinic_id=env.clinic.id, listing=listing, days=days, now=env.now(), force=force
    )
    await ctx.say(plan.summary())
    if plan.held:
        log.warning(
            "schedule mirror: %d removal(s) held: %s",
            plan.held,
            plan.held_reason,
            extra={"mirror_removals_held": plan.held},
        )
