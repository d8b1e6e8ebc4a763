"""What the sync routes do between parsing and answering: start and find runs."""

from __future__ import annotations

import asyncio
from uuid import UUID

from fastapi import Request, Response
from fastapi.responses import JSONResponse

from pims_sync.api.sync_schemas import SyncBody
from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import SyncNotFoundError
from pims_sync.shapes.results import Queued, RunResult
from pims_sync.shapes.runs import RunDetail


def queued(request: Request, run_id: UUID, clinic: Clinic, service_key: bool) -> Queued:
    """The 202 answer: where to follow the run (a service key must name the clinic there too)."""
    query = f"?clinicId={clinic.id}" if service_key else ""
    status = request.app.url_path_for("sync_status", syncId=str(run_id))
    events = request.app.url_path_for("sync_events", syncId=str(run_id))
    return Queued(sync_id=run_id, status_url=f"{status}{query}", events_url=f"{events}{query}")


async def start_run(
    request: Request,
    response: Response,
    services: Services,
    clinic: Clinic,
    body: SyncBody,
    *,
    service_key: bool,
) -> RunResult | JSONResponse:
    """Start the run; answer 202 at once (`async`), or its result when it ends (207: partly)."""
    handle = await services.sync.start(body.request(clinic.id, Trigger.API))
    if body.run_async:
        # The service keeps the task and records its outcome in the audit row.
        answer = queued(request, handle.run_id, clinic, service_key)
        return JSONResponse(answer.wire(), status_code=202)
    # Shielded: a caller hanging up must not cancel a run half-way; it still ends
    # and is recorded, and can be read back with GET /api/sync/{syncId}.
    outcome = await asyncio.shield(handle.task)
    if not outcome.success:
        response.status_code = 207
    return outcome.result()


async def find_run(services: Services, clinic_id: UUID, run_id: UUID) -> RunDetail:
    """The run's detail (with its phases for a full run), or 404."""
    record = await services.runs.get(clinic_id=clinic_id, run_id=run_id)
    if record is None:
        raise SyncNotFoundError(f"Sync run not found: {run_id}")
    phases = []  # always a list, so clients read one shape; only a full run has phases
    if record.sync_type is SyncType.FULL:
        phases = await services.runs.children(clinic_id=clinic_id, parent_id=record.id)
    return RunDetail.of(record, phases)
