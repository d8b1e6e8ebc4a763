"""Webhooks: the body a receiver gets, and the answers of `/api/webhooks` and the CLI."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import Field

from pims_sync.domain.outbox import StoredEvent
from pims_sync.domain.webhooks import DeliveryAttempt, DeliveryOutcome, WebhookEndpoint
from pims_sync.shapes.base import CamelModel, Instant, omitted


class WebhookBody(CamelModel):
    """What a receiver gets: `{type, timestamp, data: {clinicId, seq, subjectId, …payload}}`."""

    type: str
    timestamp: Instant
    data: dict[str, Any]

    @classmethod
    def of(cls, event: StoredEvent) -> WebhookBody:
        """The body of an outbox event; its payload's fields sit beside ours in `data`."""
        return cls.made(
            type=event.type.value,
            timestamp=event.created_at,
            clinic_id=event.clinic_id,
            seq=event.seq,
            subject_id=event.subject_id,
            payload=event.payload,
        )

    @classmethod
    def made(
        cls,
        *,
        type: str,
        timestamp: datetime,
        clinic_id: UUID,
        seq: int,
        subject_id: str | None,
        payload: Mapping[str, Any],
    ) -> WebhookBody:
        """A body from its parts (ours win over a payload field of the same name)."""
        data: dict[str, Any] = {**payload, "clinicId": str(clinic_id), "seq": seq}
        if subject_id is not None:
            data["subjectId"] = subject_id
        return cls(type=type, timestamp=timestamp, data=data)


class WebhookOut(CamelModel):
    """An endpoint as the API and `webhooks list --json` show it (never its secret)."""

    id: UUID
    clinic_id: UUID
    url: str
    description: str | None = omitted()
    event_types: list[str] | None = omitted("Left out: every event type.")
    is_active: bool
    disabled_reason: str | None = omitted()
    disabled_at: Instant | None = omitted()
    delivered_seq: int = Field(description="The last seq delivered (or skipped): the cursor.")
    failed_attempts: int = Field(description="Failed attempts at the event after the cursor.")
    next_attempt_at: Instant | None = omitted("When the failing event is tried again.")
    failing_since: Instant | None = omitted()
    created_at: Instant

    @classmethod
    def of(cls, endpoint: WebhookEndpoint) -> WebhookOut:
        """From the domain endpoint."""
        return cls(
            id=endpoint.id,
            clinic_id=endpoint.clinic_id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=None if endpoint.event_types is None else list(endpoint.event_types),
            is_active=endpoint.is_active,
            disabled_reason=endpoint.disabled_reason,
            disabled_at=endpoint.disabled_at,
            delivered_seq=endpoint.delivered_seq,
            failed_attempts=endpoint.attempt,
            next_attempt_at=endpoint.next_attempt_at,
            failing_since=endpoint.failing_since,
            created_at=endpoint.created_at,
        )


class WebhookCreated(CamelModel):
    """`POST /api/webhooks`: the endpoint, and its secret (shown this once only)."""

    success: bool = True
    webhook: WebhookOut
    secret: str = Field(description="`whsec_…`: verify signatures with it; never shown again.")


class WebhookList(CamelModel):
    """`GET /api/webhooks`: the clinic's endpoints."""

    success: bool = True
    webhooks: list[WebhookOut]


class WebhookRemoved(CamelModel):
    """`DELETE /api/webhooks/{id}`."""

    success: bool = True
    id: UUID
    removed: bool = True


class DeliveryOut(CamelModel):
    """One delivery attempt: which event, what the receiver answered, how long it took."""

    event_id: UUID
    seq: int = Field(description="The event's seq (0: a test event).")
    attempt: int
    outcome: DeliveryOutcome
    status_code: int | None = omitted("Left out when no answer came (timeout, connection).")
    duration_ms: int
    error: str | None = omitted()
    attempted_at: Instant

    @classmethod
    def of(cls, attempt: DeliveryAttempt) -> DeliveryOut:
        """From a delivery log row."""
        return cls(
            event_id=attempt.event_id,
            seq=attempt.seq,
            attempt=attempt.attempt,
            outcome=attempt.outcome,
            status_code=attempt.status_code,
            duration_ms=attempt.duration_ms,
            error=attempt.error,
            attempted_at=attempt.attempted_at,
        )


class DeliveryList(CamelModel):
    """`GET /api/webhooks/{id}/deliveries`: the latest attempts, newest first."""

    success: bool = True
    webhook_id: UUID
    deliveries: list[DeliveryOut]


class ReplayStarted(CamelModel):
    """`POST /api/webhooks/{id}/replay`: the endpoint, its cursor set back before `fromSeq`."""

    success: bool = True
    from_seq: int
    webhook: WebhookOut


class WebhookTestAnswer(CamelModel):
    """`pims-sync webhooks test --json`: what the receiver answered to a test event."""

    delivered: bool
    event_id: UUID
    status_code: int | None = omitted()
    duration_ms: int
    error: str | None = omitted()
    body: str = Field(description="The start of the receiver's answer.")
