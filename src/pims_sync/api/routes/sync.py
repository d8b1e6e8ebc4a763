"""Sync routes (docs/api.md): start runs, read one run, follow it live, list history.

POST routes answer when the run ends (200; 207 when a full run had a failed phase),
or at once with 202 when the body says `"async": true`. Whole-run failures are
domain errors that `api/errors.py` maps (409 busy or guard, 502 PIMS, 504 timeout).
The original's paths (`/api/sync/outbound/...`) are the same handlers.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.sse import EventSourceResponse

from pims_sync.api.deps import ApiKeyDep, QueryClinicDep, ServicesDep, request_clinic, require
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses, sync_responses
from pims_sync.api.run_events import event_stream
from pims_sync.api.streams import LeasedStream
from pims_sync.api.sync_runs import find_run, start_run
from pims_sync.api.sync_schemas import CasesBody, FullBody, InboundBody, ReconcileBody
from pims_sync.domain.api_keys import FULL_SYNC_PERMISSIONS, ApiKey
from pims_sync.domain.runs import RunStatus, SyncType
from pims_sync.shapes.results import (
    CasesResult,
    FullResult,
    InboundResult,
    ReconciliationResult,
    RunResult,
)
from pims_sync.shapes.runs import History, RunDetail

router = APIRouter(prefix="/api/sync", tags=["sync"])

# The permission of each phase; a full run needs the three.
INBOUND, CASES, RECONCILE = FULL_SYNC_PERMISSIONS

# Only UUID-shaped ids match (`:uuid`): any other `/api/sync/<word>` is an unknown path,
# 404 for every method, rather than a 405 or 400 from a route it was never meant for.
SyncIdPath = Annotated[UUID, Path(alias="syncId", description="The run's id.")]
SYNC_ANSWERS = sync_responses()
FULL_ANSWERS = sync_responses(partial=True)
READ_ERRORS = error_responses(*AUTHENTICATED_ERRORS)
STREAM_ERRORS = error_responses(*AUTHENTICATED_ERRORS, 429)


@router.post(
    "/inbound",
    summary="Inbound sync: PIMS appointments → cases",
    response_model=InboundResult,
    responses=SYNC_ANSWERS,
)
@router.post(
    "/outbound/cases",
    deprecated=True,
    summary="The original's path of /api/sync/inbound",
    response_model=InboundResult,
    responses=SYNC_ANSWERS,
)
async def sync_inbound(
    request: Request,
    response: Response,
    services: ServicesDep,
    key: Annotated[ApiKey, Depends(require(INBOUND))],
    body: Annotated[InboundBody, Body(default_factory=InboundBody)],
) -> RunResult | JSONResponse:
    """Sync the appointments of a window (default today … today + daysAhead) into cases."""
    clinic = await request_clinic(services, key, body.clinic_id)
    return await start_run(
        request, response, services, clinic, body, service_key=key.is_service_key
    )


@router.post(
    "/cases",
    summary="Cases sync: enrich past cases with their consultations",
    response_model=CasesResult,
    responses=SYNC_ANSWERS,
)
@router.post(
    "/outbound/enrich",
    deprecated=True,
    summary="The original's path of /api/sync/cases",
    response_model=CasesResult,
    responses=SYNC_ANSWERS,
)
async def sync_cases(
    request: Request,
    response: Response,
    services: ServicesDep,
    key: Annotated[ApiKey, Depends(require(CASES))],
    body: Annotated[CasesBody, Body(default_factory=CasesBody)],
) -> RunResult | JSONResponse:
    """Fetch the consultations of past cases (default the last 7 days) into the cases."""
    clinic = await request_clinic(services, key, body.clinic_id)
    return await start_run(
        request, response, services, clinic, body, service_key=key.is_service_key
    )


@router.post(
    "/reconcile",
    summary="Reconciliation: cases whose appointment left the PIMS",
    response_model=ReconciliationResult,
    responses=SYNC_ANSWERS,
)
async def sync_reconcile(
    request: Request,
    response: Response,
    services: ServicesDep,
    key: Annotated[ApiKey, Depends(require(RECONCILE))],
    body: Annotated[ReconcileBody, Body(default_factory=ReconcileBody)],
) -> RunResult | JSONResponse:
    """Soft-delete cases of the lookback whose appointment is gone (dryRun: only report)."""
    clinic = await request_clinic(services, key, body.clinic_id)
    return await start_run(
        request, response, services, clinic, body, service_key=key.is_service_key
    )


@router.post(
    "/full",
    summary="Full sync: inbound, cases, reconciliation",
    response_model=FullResult,
    responses=FULL_ANSWERS,
)
@router.post(
    "/outbound/full",
    deprecated=True,
    summary="The original's path of /api/sync/full",
    response_model=FullResult,
    responses=FULL_ANSWERS,
)
async def sync_full(
    request: Request,
    response: Response,
    services: ServicesDep,
    key: Annotated[ApiKey, Depends(require(*FULL_SYNC_PERMISSIONS))],
    body: Annotated[FullBody, Body(default_factory=FullBody)],
) -> RunResult | JSONResponse:
    """All three phases with one PIMS login; 207 when a phase failed."""
    clinic = await request_clinic(services, key, body.clinic_id)
    return await start_run(
        request, response, services, clinic, body, service_key=key.is_service_key
    )


@router.get(
    "/history",
    summary="Recent runs of the clinic",
    response_model=History,
    responses=READ_ERRORS,
)
async def sync_history(
    services: ServicesDep,
    clinic: QueryClinicDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    sync_type: Annotated[SyncType | None, Query(alias="type")] = None,
    status: Annotated[RunStatus | None, Query()] = None,
) -> History:
    """The clinic's latest top-level runs, newest first, with counters and success rate."""
    records = await services.runs.history(
        clinic_id=clinic.id, limit=limit, sync_type=sync_type, status=status
    )
    return History.of(records)


@router.get(
    "/{syncId:uuid}",
    summary="One run: status, progress, phases, result",
    response_model=RunDetail,
    responses=READ_ERRORS,
)
async def sync_status(
    services: ServicesDep, clinic: QueryClinicDep, sync_id: SyncIdPath
) -> RunDetail:
    """A run of the key's clinic (404 for an unknown run or another clinic's)."""
    return await find_run(services, clinic.id, sync_id)


@router.get(
    "/{syncId:uuid}/events",
    summary="Server-Sent Events of a run",
    # Not EventSourceResponse: the schema would then list the JSON error answers as
    # text/event-stream. The answer itself is one (LeasedStream).
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}, **STREAM_ERRORS},
)
async def sync_events(
    request: Request,
    services: ServicesDep,
    key: ApiKeyDep,
    clinic: QueryClinicDep,
    sync_id: SyncIdPath,
) -> EventSourceResponse:
    """`phase`, `progress`, `log` events, then `completed` or `failed`; keep-alives every 15 s.

    A key has at most SSE_MAX_STREAMS_PER_KEY streams open (429 `too_many_streams`).
    """
    await find_run(services, clinic.id, sync_id)  # 404 before the stream starts
    return LeasedStream(
        event_stream(services, clinic.id, sync_id),
        slots=request.app.state.stream_slots,
        key_id=key.id,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
