"""What a clinic's freshness is read from: its health row, its schedules, its audit rows.

One query reads the health rows with the clinics' schedules (clinics without a row get
the defaults), one more every phase's last success of those clinics: the latest
`completed_at` of a completed audit row of that phase, a full run's phase rows
included. Two round trips however many clinics.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from pims_sync.adapters.sql.tables import case_sync_audits as audits
from pims_sync.adapters.sql.tables import clinic_schedule_configs as configs
from pims_sync.adapters.sql.tables import clinic_sync_health as health_rows
from pims_sync.adapters.sql.tables import clinics
from pims_sync.domain.freshness import PHASES, Freshness, HealthFacts, thresholds_for
from pims_sync.domain.health import ClinicHealth, HealthSettings, Limit
from pims_sync.domain.runs import RunStatus, SyncType
from pims_sync.domain.schedules import ScheduleRules
from pims_sync.ports.schedules import ClinicScheduleConfig

LastSuccess = dict[UUID, dict[SyncType, datetime]]


def health_of(row: Any, clinic_id: UUID) -> ClinicHealth:
    """A health row as the domain has it (a missing row, from an outer join: the defaults)."""
    values = row._mapping
    status = values.get("freshness_status")
    return ClinicHealth(
        clinic_id=clinic_id,
        paused_at=values.get("paused_at"),
        paused_reason=values.get("paused_reason"),
        consecutive_failures=values.get("consecutive_failures") or 0,
        announced=Freshness(status) if status else None,
        settings=HealthSettings.of({limit: values.get(limit.value) for limit in Limit}),
    )


def clinics_query(clinic_ids: Sequence[UUID] | None, *, active_only: bool = True) -> Select[Any]:
    """Clinics (these, or all; active ones only unless said) with health row and schedules."""
    query = (
        select(
            clinics.c.id.label("clinic"),
            clinics.c.name,
            clinics.c.timezone,
            configs.c.sync_schedules,
            *(health_rows.c[name] for name in HEALTH_COLUMNS),
        )
        .select_from(
            clinics.outerjoin(health_rows, health_rows.c.clinic_id == clinics.c.id).outerjoin(
                configs, configs.c.clinic_id == clinics.c.id
            )
        )
        .order_by(clinics.c.created_at, clinics.c.id)
    )
    if active_only:
        query = query.where(clinics.c.is_active.is_(True))
    if clinic_ids is not None:
        query = query.where(clinics.c.id.in_(list(clinic_ids)))
    return query


HEALTH_COLUMNS = (
    "paused_at",
    "paused_reason",
    "consecutive_failures",
    "freshness_status",
    *(limit.value for limit in Limit),
)


async def last_successes(conn: AsyncConnection, clinic_ids: Sequence[UUID] | None) -> LastSuccess:
    """Each clinic's latest completed audit row per phase, in one query.

    One correlated MAX per clinic and phase, which the index on (clinic_id, sync_type,
    completed_at) answers with one probe: the time does not grow with the audit history.
    """
    query = select(clinics.c.id, *(_latest_success(phase) for phase in PHASES))
    if clinic_ids is not None:
        query = query.where(clinics.c.id.in_(list(clinic_ids)))
    found: LastSuccess = {}
    for clinic_id, *times in await conn.execute(query):
        at = {phase: time for phase, time in zip(PHASES, times, strict=True) if time is not None}
        if at:
            found[clinic_id] = at
    return found


def _latest_success(phase: SyncType) -> Any:
    return (
        select(func.max(audits.c.completed_at))
        .where(
            audits.c.clinic_id == clinics.c.id,
            audits.c.sync_type == phase.value,
            audits.c.status == RunStatus.COMPLETED.value,
        )
        .scalar_subquery()
        .label(phase.value)
    )


def facts_of(
    row: Any, health: ClinicHealth, successes: LastSuccess, rules: ScheduleRules
) -> HealthFacts:
    """The facts a clinic's status is decided from."""
    entries = row.sync_schedules if isinstance(row.sync_schedules, list) else []
    config = ClinicScheduleConfig(health.clinic_id, row.name, row.timezone, entries)
    schedules = config.parse(rules).schedules
    return HealthFacts(
        clinic_id=health.clinic_id,
        last_success=dict(successes.get(health.clinic_id, {})),
        thresholds=thresholds_for(schedules, health.settings.thresholds),
        consecutive_failures=health.consecutive_failures,
        paused_at=health.paused_at,
        paused_reason=health.pause.text if health.pause else None,
    )


async def read_facts(
    conn: AsyncConnection, clinic_ids: Sequence[UUID] | None, rules: ScheduleRules
) -> list[tuple[ClinicHealth, HealthFacts]]:
    """Every (active) clinic's health row and freshness facts: two queries."""
    rows = (await conn.execute(clinics_query(clinic_ids))).all()
    successes = await last_successes(conn, clinic_ids)
    found = []
    for row in rows:
        health = health_of(row, row.clinic)
        found.append((health, facts_of(row, health, successes, rules)))
    return found
