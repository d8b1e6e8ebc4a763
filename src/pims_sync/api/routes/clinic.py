"""The key's clinic: `GET /api/clinic`, its freshness, pausing and resuming it.

`GET /api/clinic/freshness` says whether the clinic's data can be trusted now
(docs/freshness.md); `PATCH /api/clinic` `{"paused": false}` resumes a paused clinic
(`{"paused": true}` pauses it), with the permission `clinic:manage`.
`POST /api/clinic/credentials/test` logs in to the clinic's PIMS once with its stored
credentials (what `pims-sync credentials test` does): refused for a paused clinic, and it
spends one login of the clinic's daily login budget.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body
from pydantic import Strict

from pims_sync.api.auth import check_permissions
from pims_sync.api.deps import ApiKeyDep, QueryClinicDep, ServicesDep, request_clinic
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.domain.api_keys import CLINIC_MANAGE
from pims_sync.domain.health import PauseKind, PauseReason
from pims_sync.errors import PimsError
from pims_sync.ports.login_budget import allowance
from pims_sync.ports.provider import ClinicLogin
from pims_sync.shapes.base import CamelModel
from pims_sync.shapes.clinics import ApiKeyOut, ClinicInfo, ClinicOut, LoginCheckOut
from pims_sync.shapes.freshness import ClinicFreshnessOut
from pims_sync.sync.guard import paused_error

router = APIRouter(prefix="/api", tags=["clinic"])


@router.get("/clinic", response_model=ClinicInfo, responses=error_responses(*AUTHENTICATED_ERRORS))
async def get_clinic(key: ApiKeyDep, clinic: QueryClinicDep) -> ClinicInfo:
    """The key's clinic (a service key names it with `?clinicId=`) and its permissions."""
    return ClinicInfo(clinic=ClinicOut.of(clinic), api_key=ApiKeyOut.of(key))


@router.get(
    "/clinic/freshness",
    summary="Whether the clinic's data is fresh: status, each phase's last success",
    response_model=ClinicFreshnessOut,
    responses=error_responses(*AUTHENTICATED_ERRORS),
)
async def get_freshness(services: ServicesDep, clinic: QueryClinicDep) -> ClinicFreshnessOut:
    """`{clinicId, status, inbound, cases, reconciliation, consecutiveFailures, reason}`."""
    [found] = await services.health.freshness(at=datetime.now(UTC), clinic_ids=[clinic.id])
    return ClinicFreshnessOut.of(found)


class ClinicChange(CamelModel):
    """What to change of the clinic: whether it is paused."""

    clinic_id: UUID | None = None
    paused: Annotated[bool, Strict()]


@router.patch(
    "/clinic",
    summary="Pause or resume the clinic",
    response_model=ClinicFreshnessOut,
    responses=error_responses(*AUTHENTICATED_ERRORS, 413),
)
async def change_clinic(
    services: ServicesDep, key: ApiKeyDep, change: Annotated[ClinicChange, Body()]
) -> ClinicFreshnessOut:
    """`{"paused": false}` resumes (failures in a row start again at 0); answers the status."""
    clinic = await request_clinic(services, key, change.clinic_id)
    check_permissions(key, (CLINIC_MANAGE,))
    now, by = datetime.now(UTC), f"API key {key.id}"
    if change.paused:
        reason = PauseReason(PauseKind.OPERATOR, f"paused through the API by {by}")
        await services.health.pause(clinic_id=clinic.id, reason=reason, at=now)
    else:
        await services.health.resume(clinic_id=clinic.id, at=now, by=by)
    [found] = await services.health.freshness(at=now, clinic_ids=[clinic.id])
    return ClinicFreshnessOut.of(found)


class ClinicChoice(CamelModel):
    """Which clinic (a service key names it; a clinic key's own clinic otherwise)."""

    clinic_id: UUID | None = None


@router.post(
    "/clinic/credentials/test",
    summary="Log in to the clinic's PIMS once with its stored credentials",
    response_model=LoginCheckOut,
    responses=error_responses(*AUTHENTICATED_ERRORS, 409, 413, 429, 503),
)
async def test_credentials(
    services: ServicesDep, key: ApiKeyDep, choice: Annotated[ClinicChoice, Body()]
) -> LoginCheckOut:
    """`{clinicId, ok: true, seconds}`, or `{clinicId, ok: false, code, message}` if refused."""
    clinic = await request_clinic(services, key, choice.clinic_id)
    check_permissions(key, (CLINIC_MANAGE,))
    health = await services.health.health(clinic.id)
    if health.paused:
        # A clinic paused for a refused password must not try it again until it changes.
        raise paused_error(health)
    limit = health.settings.login_budget(services.settings.pims_daily_login_budget)
    logins = allowance(services.ledger, clinic.id, datetime.now(UTC), limit)
    credentials = await services.vault.load(clinic.id)  # NotFoundError (404) when none
    login = ClinicLogin(clinic.id, credentials, clinic.timezone, logins=logins)
    try:
        seconds = await services.check_login(login)
    except PimsError as error:
        return LoginCheckOut(clinic_id=clinic.id, ok=False, code=error.code, message=str(error))
    return LoginCheckOut(clinic_id=clinic.id, ok=True, seconds=round(seconds, 2))
