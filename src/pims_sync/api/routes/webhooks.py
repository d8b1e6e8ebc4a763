"""`/api/webhooks`: the key's clinic's webhook endpoints (permission `webhooks:manage`).

Add one (its secret is in this answer only), list, remove, read its delivery log, and
replay its events from a `seq` (docs/webhooks.md).
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import Field

from pims_sync.api.deps import ApiKeyDep, QueryClinicDep, ServicesDep, request_clinic, require
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.domain.api_keys import WEBHOOKS_MANAGE
from pims_sync.domain.outbox import MAX_SEQ, EventType
from pims_sync.domain.webhooks import MAX_DESCRIPTION_LENGTH, MAX_URL_LENGTH
from pims_sync.shapes.base import CamelModel
from pims_sync.shapes.webhooks import (
    DeliveryList,
    DeliveryOut,
    ReplayStarted,
    WebhookCreated,
    WebhookList,
    WebhookOut,
    WebhookRemoved,
)

PERMISSION = WEBHOOKS_MANAGE
router = APIRouter(
    prefix="/api/webhooks", tags=["webhooks"], dependencies=[Depends(require(PERMISSION))]
)
WebhookId = Annotated[UUID, Path(description="The endpoint's id (from `GET /api/webhooks`).")]


class NewWebhook(CamelModel):
    """An endpoint to add: where, which event types (all when left out), a label."""

    clinic_id: UUID | None = None
    url: str = Field(
        max_length=MAX_URL_LENGTH,
        description="http(s); its host must resolve to public addresses only.",
        examples=["https://example.com/hooks/pims"],
    )
    events: list[str] | None = Field(
        None,
        description="Event types to receive; left out: every type.",
        examples=[[EventType.CASE_CREATED.value, EventType.CASE_UPDATED.value]],
    )
    description: str | None = Field(None, max_length=MAX_DESCRIPTION_LENGTH)


@router.post(
    "",
    status_code=201,
    summary="Add a webhook endpoint (its secret is shown in this answer only)",
    response_model=WebhookCreated,
    responses=error_responses(*AUTHENTICATED_ERRORS, 413),
)
async def add_webhook(
    services: ServicesDep, key: ApiKeyDep, new: Annotated[NewWebhook, Body()]
) -> WebhookCreated:
    """It receives the clinic's events committed from now on (older ones: replay)."""
    clinic = await request_clinic(services, key, new.clinic_id)
    endpoint, secret = await services.webhook_admin.add(
        clinic_id=clinic.id, url=new.url, event_types=new.events, description=new.description
    )
    return WebhookCreated(webhook=WebhookOut.of(endpoint), secret=secret)


@router.get(
    "",
    summary="The clinic's webhook endpoints",
    response_model=WebhookList,
    responses=error_responses(*AUTHENTICATED_ERRORS),
)
async def list_webhooks(services: ServicesDep, clinic: QueryClinicDep) -> WebhookList:
    """Oldest first; never their secrets."""
    found = await services.webhook_admin.endpoints(clinic.id)
    return WebhookList(webhooks=[WebhookOut.of(endpoint) for endpoint in found])


@router.get(
    "/{webhook_id}",
    summary="One webhook endpoint: its cursor and retry state",
    response_model=WebhookOut,
    responses=error_responses(*AUTHENTICATED_ERRORS),
)
async def get_webhook(
    services: ServicesDep, clinic: QueryClinicDep, webhook_id: WebhookId
) -> WebhookOut:
    """404 `webhook_not_found` for an unknown id or another clinic's."""
    endpoint = await services.webhook_admin.get(clinic_id=clinic.id, endpoint_id=webhook_id)
    return WebhookOut.of(endpoint)


@router.delete(
    "/{webhook_id}",
    summary="Remove a webhook endpoint and its delivery log",
    response_model=WebhookRemoved,
    responses=error_responses(*AUTHENTICATED_ERRORS),
)
async def remove_webhook(
    services: ServicesDep, clinic: QueryClinicDep, webhook_id: WebhookId
) -> WebhookRemoved:
    """Nothing more is sent to it (a delivery under way may still finish)."""
    await services.webhook_admin.remove(clinic_id=clinic.id, endpoint_id=webhook_id)
    return WebhookRemoved(id=webhook_id)


@router.get(
    "/{webhook_id}/deliveries",
    summary="The endpoint's latest delivery attempts, newest first",
    response_model=DeliveryList,
    responses=error_responses(*AUTHENTICATED_ERRORS),
)
async def list_deliveries(
    services: ServicesDep,
    clinic: QueryClinicDep,
    webhook_id: WebhookId,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
) -> DeliveryList:
    """One row per attempt: event, seq, attempt number, outcome, status, duration, error."""
    attempts = await services.webhook_admin.deliveries(
        clinic_id=clinic.id, endpoint_id=webhook_id, limit=limit
    )
    return DeliveryList(
        webhook_id=webhook_id, deliveries=[DeliveryOut.of(attempt) for attempt in attempts]
    )


@router.post(
    "/{webhook_id}/replay",
    status_code=202,
    summary="Deliver the clinic's events again from a seq (re-enables a disabled endpoint)",
    response_model=ReplayStarted,
    responses=error_responses(*AUTHENTICATED_ERRORS),
)
async def replay_webhook(
    services: ServicesDep,
    clinic: QueryClinicDep,
    webhook_id: WebhookId,
    from_seq: Annotated[int, Query(alias="fromSeq", ge=1, le=MAX_SEQ)],
) -> ReplayStarted:
    """The cursor goes back to `fromSeq - 1`; the events go out again, in order, from there."""
    endpoint = await services.webhook_admin.replay(
        clinic_id=clinic.id, endpoint_id=webhook_id, from_seq=from_seq
    )
    return ReplayStarted(from_seq=from_seq, webhook=WebhookOut.of(endpoint))
