"""Unauthenticated routes: service info, health, readiness, metrics."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response
from fastapi.responses import JSONResponse

from pims_sync import __version__
from pims_sync.api.auth import check_metrics_token
from pims_sync.api.deps import ServicesDep
from pims_sync.api.errors import now_iso
from pims_sync.api.health import SERVICE_NAME, database_error, health_report
from pims_sync.api.responses import Health, Ready

router = APIRouter(tags=["service"])

DESCRIPTION = "Keeps a veterinary clinic's cases in step with its PIMS (IDEXX Neo)"


def endpoint_list(openapi: dict[str, Any]) -> list[dict[str, Any]]:
    """Every documented operation: method, path, whether it needs a key, and what it does."""
    listed = []
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            text = str(operation.get("description") or operation.get("summary") or "")
            lines = text.strip().splitlines()
            listed.append(
                {
                    "method": method.upper(),
                    "path": path,
                    "auth": bool(operation.get("security")),
                    "summary": lines[0] if lines else "",
                }
            )
    return listed


@router.get("/")
async def service_info(request: Request) -> dict[str, Any]:
    """Service name, version and the list of endpoints."""
    return {
        "service": SERVICE_NAME,
        "version": __version__,
        "description": DESCRIPTION,
        "documentation": "/openapi.json",
        "timestamp": now_iso(),
        "endpoints": endpoint_list(request.app.openapi()),
    }


@router.get(
    "/health",
    response_model=None,
    responses={
        200: {"model": Health, "description": "Healthy"},
        503: {"model": Health, "description": "A check failed"},
    },
)
async def health(services: ServicesDep) -> JSONResponse:
    """Liveness with details: uptime, memory, checks; 503 when a check fails."""
    healthy, body = await health_report(services)
    return JSONResponse(body, status_code=200 if healthy else 503)


@router.get(
    "/ready",
    response_model=None,
    responses={
        200: {"model": Ready, "description": "The database answered"},
        503: {"model": Ready, "description": "The database did not answer"},
    },
)
async def ready(services: ServicesDep) -> JSONResponse:
    """Readiness: a real database round trip; 503 when the database does not answer."""
    error = await database_error(services)
    if error is None:
        return JSONResponse({"status": "ready", "database": "connected", "timestamp": now_iso()})
    body = {"status": "not_ready", "database": "disconnected", "error": error}
    return JSONResponse({**body, "timestamp": now_iso()}, status_code=503)


@router.get(
    "/metrics",
    response_class=Response,
    responses={401: {"description": "METRICS_TOKEN is set and the bearer token is not it"}},
)
async def metrics(
    request: Request,
    services: ServicesDep,
    authorization: Annotated[str | None, Header(include_in_schema=False)] = None,
) -> Response:
    """Prometheus metrics (text exposition format); `Authorization: Bearer` when METRICS_TOKEN."""
    check_metrics_token(request.app.state.settings.metrics_token, authorization)
    body, content_type = services.metrics.render()
    return Response(body, media_type=content_type)
