"""The scheduler over HTTP: its status, and switching a clinic's schedules (docs/deploy.md).

`GET /api/scheduler/status` lists the schedules with their next and last runs.
`PATCH /api/scheduler/schedules` sets, enables or disables one schedule of a clinic
(who may run a type may schedule it); running schedulers pick it up on their next tick.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Query
from pydantic import Field, Strict

from pims_sync.api.auth import check_permissions
from pims_sync.api.deps import ApiKeyDep, ServicesDep, request_clinic
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.domain.run_options import SCHEDULE_OPTIONS, options_hint
from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import ScheduleRules, parse_schedule
from pims_sync.errors import InvalidInputError, ScheduleError
from pims_sync.scheduling.status import jobs, status_of
from pims_sync.shapes.base import CamelModel
from pims_sync.shapes.scheduler import ScheduleChanged, SchedulerStatus

router = APIRouter(prefix="/api/scheduler", tags=["scheduler"])

PERMISSIONS = {
    SyncType.INBOUND: ("sync:inbound",),
    SyncType.CASES: ("sync:cases",),
    SyncType.RECONCILIATION: ("sync:reconcile",),
    SyncType.FULL: ("sync:inbound", "sync:cases", "sync:reconcile"),
}


@router.get(
    "/status",
    summary="Schedules of the key's clinic (all clinics for a service key)",
    response_model=SchedulerStatus,
    responses=error_responses(*AUTHENTICATED_ERRORS),
)
async def scheduler_status(
    services: ServicesDep,
    key: ApiKeyDep,
    clinic_id: Annotated[
        UUID | None,
        Query(alias="clinicId", description="A service key may narrow to one clinic."),
    ] = None,
) -> SchedulerStatus:
    """`{running, totalJobs, jobsByType, jobs, invalidSchedules, freshness}`; `running`: here."""
    ids: list[UUID] | None = None
    if not key.is_service_key or clinic_id is not None:
        clinic = await request_clinic(services, key, clinic_id)
        ids = [clinic.id]
    configs = await services.schedules.configs(ids)
    fires = await services.fires.latest(ids)
    rules = ScheduleRules(services.settings.schedule_min_interval_seconds)
    now = datetime.now(UTC)
    freshness = await services.health.freshness(at=now, clinic_ids=ids)
    return status_of(
        configs, fires, now, running=services.scheduler_running, rules=rules, freshness=freshness
    )


class ScheduleChange(CamelModel):
    """One schedule to create or change; fields left out keep their stored value."""

    clinic_id: UUID | None = None
    type: SyncType
    cron: str | None = Field(
        None, description="Cron in the clinic's zone.", examples=["0 6 * * *", "*/30 7-18 * * 1-5"]
    )
    enabled: Annotated[bool, Strict()] | None = None
    options: dict[str, Any] | None = Field(
        None,
        description=options_hint(SCHEDULE_OPTIONS),
        examples=[{"daysAhead": 14}, {"lookbackDays": 3, "force": True}],
    )


def _changed(
    stored: dict[str, Any] | None, change: ScheduleChange, rules: ScheduleRules
) -> dict[str, Any]:
    """The stored entry with the change applied (a new one needs a cron)."""
    entry = dict(stored or {})
    entry["type"] = change.type.value
    for name in ("cron", "enabled", "options"):
        value = getattr(change, name)
        if value is not None:
            entry[name] = value
    if "cron" not in entry:
        raise InvalidInputError("cron is required to create a schedule", field="cron")
    try:
        return parse_schedule(entry, rules).as_json()
    except ScheduleError as error:
        raise InvalidInputError(str(error), field="schedule") from None


@router.patch(
    "/schedules",
    summary="Set, enable or disable one schedule of the clinic",
    response_model=ScheduleChanged,
    responses=error_responses(*AUTHENTICATED_ERRORS, 413),
)
async def change_schedule(
    services: ServicesDep, key: ApiKeyDep, change: Annotated[ScheduleChange, Body()]
) -> ScheduleChanged:
    """Needs the permission to run that type; answers with the schedule as status lists it."""
    clinic = await request_clinic(services, key, change.clinic_id)
    check_permissions(key, PERMISSIONS[change.type])
    config = await services.schedules.get(clinic.id)
    entries = list(config.entries) if config is not None else []
    mine = [e for e in entries if isinstance(e, dict) and e.get("type") == change.type.value]
    others = [e for e in entries if not any(e is m for m in mine)]
    # A seconds field is for service keys; every key keeps to the minimum interval.
    minimum = services.settings.schedule_min_interval_seconds
    rules = ScheduleRules(minimum, allow_seconds=key.is_service_key)
    entry = _changed(mine[0] if mine else None, change, rules)
    await services.schedules.put(clinic.id, [*others, entry])
    updated = await services.schedules.configs([clinic.id])
    fires = await services.fires.latest([clinic.id])
    listed = jobs(updated, fires, datetime.now(UTC), ScheduleRules(minimum))
    return ScheduleChanged(job=next(job for job in listed if job.type is change.type))
