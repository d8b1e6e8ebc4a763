"""The clinics overview: one row per clinic the signed-in key may see, in a few queries."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from uuid import UUID

from pims_sync.adapters.sql.dashboard import SqlDashboardReads
from pims_sync.bootstrap import Services
from pims_sync.domain.api_keys import ApiKey
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.freshness import ClinicFreshness, Freshness
from pims_sync.domain.runs import RunRecord
from pims_sync.scheduling.planner import next_fire

CASES_AHEAD = timedelta(days=7)
# Most urgent first: the order "sort by staleness" uses.
URGENCY = {Freshness.PAUSED: 0, Freshness.FAILING: 1, Freshness.STALE: 2, Freshness.FRESH: 3}


@dataclass(frozen=True, slots=True)
class ClinicRow:
    """What the overview shows of one clinic."""

    clinic: Clinic
    freshness: ClinicFreshness
    last_run: RunRecord | None
    next_run_at: datetime | None
    cases_ahead: int

    @property
    def oldest_success_age(self) -> int:
        """Seconds since the oldest phase's last success (never: as old as can be)."""
        ages = [p.age_seconds for p in self.freshness.phases]
        return max((a if a is not None else 10**12) for a in ages) if ages else 0


async def visible_clinics(services: Services, key: ApiKey) -> list[Clinic]:
    """A service key's every active clinic; a clinic key's own (if active)."""
    if key.clinic_id is None:
        return [c for c in await services.clinics.list() if c.is_active]
    clinic = await services.clinics.get(key.clinic_id)
    return [clinic] if clinic is not None and clinic.is_active else []


async def next_runs(
    services: Services, clinics: Sequence[Clinic], now: datetime
) -> dict[UUID, datetime | None]:
    """Each clinic's next scheduled fire, from its enabled schedules."""
    found: dict[UUID, datetime | None] = {}
    for config in await services.schedules.configs([c.id for c in clinics]):
        fires = [
            at
            for schedule in config.parsed.schedules
            if (at := next_fire(schedule, config.zone, now)) is not None
        ]
        found[config.clinic_id] = min(fires, default=None)
    return found


async def overview_rows(
    services: Services, reads: SqlDashboardReads, key: ApiKey, now: datetime
) -> list[ClinicRow]:
    """The overview's rows, most urgent and stalest first."""
    clinics = await visible_clinics(services, key)
    ids = [c.id for c in clinics]
    freshness = {f.clinic_id: f for f in await services.health.freshness(at=now, clinic_ids=ids)}
    latest = await reads.latest_runs(ids)
    ahead = await reads.cases_ahead(ids, now, now + CASES_AHEAD)
    upcoming = await next_runs(services, clinics, now)
    rows = [
        ClinicRow(c, freshness[c.id], latest.get(c.id), upcoming.get(c.id), ahead.get(c.id, 0))
        for c in clinics
        if c.id in freshness
    ]
    return sorted(rows, key=lambda r: (URGENCY[r.freshness.status], -r.oldest_success_age))
