"""Unauthenticated routes: service info, health, readiness, metrics."""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Header, Request, Response

from pims_sync import __version__
from pims_sync.api.auth import check_metrics_token
from pims_sync.api.deps import ServicesDep
from pims_sync.api.health import SERVICE_NAME, database_error, health_report
from pims_sync.bootstrap import Services
from pims_sync.domain.freshness import Freshness
from pims_sync.shapes.service import Endpoint, Health, Ready, ServiceInfo

router = APIRouter(tags=["service"])
log = logging.getLogger(__name__)

DESCRIPTION = "Keeps a veterinary clinic's cases in step with its PIMS (IDEXX Neo)"


def endpoint_list(openapi: dict[str, Any]) -> list[Endpoint]:
    """Every documented operation: method, path, whether it needs a key, and what it does."""
    listed = []
    for path, operations in openapi.get("paths", {}).items():
        for method, operation in operations.items():
            text = str(operation.get("description") or operation.get("summary") or "")
            lines = text.strip().splitlines()
            listed.append(
                Endpoint(
                    method=method.upper(),
                    path=path,
                    auth=bool(operation.get("security")),
                    summary=lines[0] if lines else "",
                )
            )
    return listed


@router.get("/", response_model=ServiceInfo)
async def service_info(request: Request) -> ServiceInfo:
    """Service name, version and the list of endpoints."""
    return ServiceInfo(
        service=SERVICE_NAME,
        version=__version__,
        description=DESCRIPTION,
        documentation="/openapi.json",
        timestamp=datetime.now(UTC),
        endpoints=endpoint_list(request.app.openapi()),
    )


@router.get(
    "/health",
    response_model=Health,
    responses={
        200: {"description": "Healthy"},
        503: {"model": Health, "description": "A check failed"},
    },
)
async def health(services: ServicesDep, response: Response) -> Health:
    """Liveness with details: uptime, memory, checks; 503 when a check fails."""
    report = await health_report(services)
    if report.status != "healthy":
        response.status_code = 503
    return report


@router.get(
    "/ready",
    response_model=Ready,
    responses={
        200: {"description": "The database answered"},
        503: {"model": Ready, "description": "The database did not answer"},
    },
)
async def ready(services: ServicesDep, response: Response) -> Ready:
    """Readiness: a real database round trip; 503 when the database does not answer."""
    error = await database_error(services)
    if error is None:
        return Ready(status="ready", database="connected", timestamp=datetime.now(UTC))
    response.status_code = 503
    return Ready(
        status="not_ready", database="disconnected", error=error, timestamp=datetime.now(UTC)
    )


async def refresh_freshness(services: Services, *, per_clinic: bool) -> None:
    """The freshness gauges as of now (one read for every clinic); kept as they were on error.

    The clinics by status always; each clinic's series only when `/metrics` needs the
    token (`per_clinic`): an open `/metrics` shows no clinic's id (docs/security.md).
    """
    try:
        found = await services.health.freshness(at=datetime.now(UTC))
    except Exception:
        log.warning("could not read the clinics' freshness for /metrics", exc_info=True)
        return
    counts = Counter(clinic.status.value for clinic in found)
    services.metrics.freshness_statuses(
        {status.value: counts[status.value] for status in Freshness}
    )
    series = {
        str(clinic.clinic_id): {
            phase.phase.value: (phase.age_seconds, phase.threshold_seconds)
            for phase in clinic.phases
        }
        for clinic in found
    }
    services.metrics.clinic_freshness(series if per_clinic else {})


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
    token = request.app.state.settings.metrics_token
    check_metrics_token(token, authorization)
    await refresh_freshness(services, per_clinic=bool(token and token.get_secret_value()))
    body, content_type = services.metrics.render()
    return Response(body, media_type=content_type)
