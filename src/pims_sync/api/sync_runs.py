"""What the sync routes do between parsing and answering: start, find, list runs."""

from __future__ import annotations

import asyncio
from typing import Any
from uuid import UUID

from fastapi import Request
from fastapi.responses import JSONResponse

from pims_sync.api.errors import ApiError
from pims_sync.api.sync_schemas import SyncBody, run_detail, run_summary, success_rate
from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.runs import RunRecord, SyncType, Trigger


def run_urls(request: Request, run_id: UUID, clinic: Clinic, service_key: bool) -> dict[str, str]:
    """Where to follow a run (a service key must name the clinic there too)."""
    query = f"?clinicId={clinic.id}" if service_key else ""
    status = request.app.url_path_for("sync_status", syncId=str(run_id))
    events = request.app.url_path_for("sync_events", syncId=str(run_id))
    return {"statusUrl": f"{status}{query}", "eventsUrl": f"{events}{query}"}


async def start_run(
    request: Request, services: Services, clinic: Clinic, body: SyncBody, *, service_key: bool
) -> JSONResponse:
    """Start the run; answer 202 at once (`async`), or its outcome when it ends."""
    handle = await services.sync.start(body.request(clinic.id, Trigger.API))
    if body.run_async:
        # The service keeps the task and records its outcome in the audit row.
        urls = run_urls(request, handle.run_id, clinic, service_key)
        queued = {"success": True, "syncId": str(handle.run_id), "status": "queued", **urls}
        return JSONResponse(queued, status_code=202)
    # Shielded: a caller hanging up must not cancel a run half-way; it still ends
    # and is recorded, and can be read back with GET /api/sync/{syncId}.
    outcome = await asyncio.shield(handle.task)
    return JSONResponse(outcome.as_dict(), status_code=200 if outcome.success else 207)


async def find_run(services: Services, clinic_id: UUID, run_id: UUID) -> dict[str, Any]:
    """The run's detail (with its phases for a full run), or 404."""
    record = await services.runs.get(clinic_id=clinic_id, run_id=run_id)
    if record is None:
        raise ApiError(404, "sync_not_found", f"Sync run not found: {run_id}")
    phases = []  # always a list, so clients read one shape; only a full run has phases
    if record.sync_type is SyncType.FULL:
        phases = await services.runs.children(clinic_id=clinic_id, parent_id=record.id)
    return run_detail(record, phases)


def history_body(records: list[RunRecord]) -> dict[str, Any]:
    """`GET /api/sync/history`: the runs, how many, and the share that completed."""
    return {
        "success": True,
        "runs": [run_summary(record) for record in records],
        "total": len(records),
        "successRate": success_rate(records),
    }
