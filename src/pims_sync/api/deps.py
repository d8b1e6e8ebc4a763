"""FastAPI dependencies: the services, the caller's API key, permissions, the clinic.

Routes declare what they need with the Annotated aliases:

    async def route(key: ApiKeyDep, clinic: QueryClinicDep) -> ...
    @router.post("/x", dependencies=[Depends(require("sync:inbound"))])

A route whose `clinicId` comes in the JSON body calls
`await request_clinic(services, key, body.clinic_id)` instead.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Query, Request, Security
from fastapi.security import APIKeyHeader

from pims_sync.api.auth import authenticate, check_permissions, clinic_for, record_use
from pims_sync.bootstrap import Services
from pims_sync.domain.api_keys import ApiKey
from pims_sync.domain.clinics import Clinic

api_key_header = APIKeyHeader(
    name="X-API-Key",
    auto_error=False,
    description="An API key from `pims-sync keys create`.",
)


def get_services(request: Request) -> Services:
    """The services the app was started with (set by its lifespan)."""
    services: Services | None = getattr(request.app.state, "services", None)
    if services is None:
        raise RuntimeError("the app's services are not started (lifespan not run)")
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def current_api_key(
    services: ServicesDep,
    presented: Annotated[str | None, Security(api_key_header)],
) -> ApiKey:
    """The verified API key of this request (401 otherwise); records its use."""
    now = datetime.now(UTC)
    key = await authenticate(services.api_keys, presented, now)
    await record_use(services.api_keys, key, now)
    return key


ApiKeyDep = Annotated[ApiKey, Depends(current_api_key)]


def require(*permissions: str) -> Callable[[ApiKey], Awaitable[ApiKey]]:
    """A dependency giving the API key if it holds every permission, else 403."""

    async def has_permissions(key: ApiKeyDep) -> ApiKey:
        check_permissions(key, permissions)
        return key

    return has_permissions


async def request_clinic(services: Services, key: ApiKey, requested: UUID | None) -> Clinic:
    """The clinic a request acts for (403 other clinic, 400 service key without one, 404)."""
    return await clinic_for(services.clinics, key, requested)


async def clinic_from_query(
    services: ServicesDep,
    key: ApiKeyDep,
    clinic_id: Annotated[
        UUID | None,
        Query(alias="clinicId", description="Required for a service key; else the key's own."),
    ] = None,
) -> Clinic:
    """The clinic of a request that names it (if at all) as `?clinicId=`."""
    return await request_clinic(services, key, clinic_id)


QueryClinicDep = Annotated[Clinic, Depends(clinic_from_query)]
