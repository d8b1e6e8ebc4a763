"""`GET /api/scheduler/status`: the clinic's schedules, next and last runs (spec §5)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Query

from pims_sync.api.deps import ApiKeyDep, ServicesDep, request_clinic
from pims_sync.scheduling.status import status_json

router = APIRouter(prefix="/api/scheduler", tags=["scheduler"])


@router.get("/status", summary="Schedules of the key's clinic (all clinics for a service key)")
async def scheduler_status(
    services: ServicesDep,
    key: ApiKeyDep,
    clinic_id: Annotated[
        UUID | None,
        Query(alias="clinicId", description="A service key may narrow to one clinic."),
    ] = None,
) -> dict[str, Any]:
    """`{running, totalJobs, jobsByType, jobs, invalidSchedules}`; `running`: this process."""
    ids: list[UUID] | None = None
    if not key.is_service_key or clinic_id is not None:
        clinic = await request_clinic(services, key, clinic_id)
        ids = [clinic.id]
    configs = await services.schedules.configs(ids)
    fires = await services.fires.latest(ids)
    return status_json(configs, fires, datetime.now(UTC), running=services.scheduler_running)
