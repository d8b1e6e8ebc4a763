"""Managing a clinic's endpoints: add (secret shown once), list, remove, test, replay."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pims_sync.domain.webhooks import (
    TEST_EVENT_TYPE,
    TEST_SEQ,
    DeliveryAttempt,
    DeliveryOutcome,
    NewEndpoint,
    WebhookEndpoint,
    check_description,
    new_secret,
    parse_event_types,
)
from pims_sync.errors import InvalidInputError, WebhookNotFoundError
from pims_sync.ports.events import EventLog
from pims_sync.ports.webhooks import SendResult, WebhookSender, WebhookStore
from pims_sync.shapes.webhooks import WebhookBody
from pims_sync.webhooks.signing import body_bytes, signed_headers

# Checks a URL's form and where its host leads; the checked URL, or WebhookUrlRefusedError.
DestinationCheck = Callable[[str], Awaitable[str]]

MAX_DELIVERIES = 500


@dataclass(frozen=True, slots=True)
class SentTestEvent:
    """What a receiver answered to a test event."""

    event_id: UUID
    result: SendResult


class WebhookAdmin:
    """What the CLI and the API do with endpoints, with the same rules and messages."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        events: EventLog,
        sender: WebhookSender,
        check: DestinationCheck,
        now: Callable[[], datetime],
    ) -> None:
        self._store = store
        self._events = events
        self._sender = sender
        self._check = check
        self._now = now

    async def add(
        self,
        *,
        clinic_id: UUID,
        url: str,
        event_types: Iterable[str] | None = None,
        description: str | None = None,
    ) -> tuple[WebhookEndpoint, str]:
        """A new endpoint and its secret; it gets the clinic's events from now on."""
        wanted = parse_event_types(event_types)
        if event_types is not None and wanted is None:
            raise InvalidInputError(
                "events must name at least one event type (leave it out for every type)",
                field="events",
            )
        label = check_description(description)
        checked = await self._check(url)
        secret = new_secret()
        # New endpoints start at the clinic's latest event: older ones come by replay.
        start = await self._events.last_seq(clinic_id=clinic_id)
        endpoint = NewEndpoint(clinic_id, checked, event_types=wanted, description=label)
        stored = await self._store.add(endpoint, secret=secret, delivered_seq=start, at=self._now())
        return stored, secret

    async def endpoints(self, clinic_id: UUID | None) -> list[WebhookEndpoint]:
        """A clinic's endpoints (every clinic's for None)."""
        return await self._store.endpoints(clinic_id)

    async def get(self, *, clinic_id: UUID | None, endpoint_id: UUID) -> WebhookEndpoint:
        """The endpoint, or WebhookNotFoundError (another clinic's is not found either)."""
        found = await self._store.get(endpoint_id, clinic_id=clinic_id)
        if found is None:
            raise WebhookNotFoundError(f"no webhook with id {endpoint_id}")
        return found

    async def remove(self, *, clinic_id: UUID | None, endpoint_id: UUID) -> None:
        """Delete the endpoint and its delivery log, or WebhookNotFoundError."""
        if not await self._store.remove(clinic_id=clinic_id, endpoint_id=endpoint_id):
            raise WebhookNotFoundError(f"no webhook with id {endpoint_id}")

    async def replay(
        self, *, clinic_id: UUID | None, endpoint_id: UUID, from_seq: int
    ) -> WebhookEndpoint:
        """Deliver again from `from_seq` (and re-enable a disabled endpoint)."""
        if from_seq < 1:
            raise InvalidInputError("fromSeq must be 1 or more", field="fromSeq")
        endpoint = await self.get(clinic_id=clinic_id, endpoint_id=endpoint_id)
        last = await self._events.last_seq(clinic_id=endpoint.clinic_id)
        if from_seq > last + 1:
            raise InvalidInputError(
                f"fromSeq {from_seq} is past the clinic's last event ({last})", field="fromSeq"
            )
        replayed = await self._store.replay(
            clinic_id=clinic_id, endpoint_id=endpoint_id, from_seq=from_seq, at=self._now()
        )
        if replayed is None:
            raise WebhookNotFoundError(f"no webhook with id {endpoint_id}")
        return replayed

    async def deliveries(
        self, *, clinic_id: UUID | None, endpoint_id: UUID, limit: int
    ) -> list[DeliveryAttempt]:
        """The endpoint's latest attempts, newest first."""
        await self.get(clinic_id=clinic_id, endpoint_id=endpoint_id)
        limit = max(1, min(limit, MAX_DELIVERIES))
        return await self._store.deliveries(
            clinic_id=clinic_id, endpoint_id=endpoint_id, limit=limit
        )

    async def test(self, *, clinic_id: UUID | None, endpoint_id: UUID) -> SentTestEvent:
        """Send a `webhook.test` event now (outside the outbox), log it, return the answer."""
        endpoint = await self.get(clinic_id=clinic_id, endpoint_id=endpoint_id)
        await self._check(endpoint.url)
        event_id = uuid.uuid4()
        at = self._now()
        body = body_bytes(
            WebhookBody.made(
                type=TEST_EVENT_TYPE,
                timestamp=at,
                clinic_id=endpoint.clinic_id,
                seq=TEST_SEQ,
                subject_id=str(endpoint.id),
                payload={"webhookId": str(endpoint.id)},
            )
        )
        secret = await self._store.secret(endpoint)
        headers = signed_headers(secret=secret, message_id=str(event_id), at=at, body=body)
        result = await self._sender.send(endpoint.url, body, headers)
        await self._store.log_attempt(
            DeliveryAttempt(
                endpoint_id=endpoint.id,
                clinic_id=endpoint.clinic_id,
                event_id=event_id,
                seq=TEST_SEQ,
                attempt=1,
                outcome=DeliveryOutcome.DELIVERED if result.ok else DeliveryOutcome.FAILED,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=result.error,
                attempted_at=at,
            )
        )
        return SentTestEvent(event_id=event_id, result=result)
