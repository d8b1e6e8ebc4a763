"""Webhook endpoints and their delivery log in memory (secrets kept as they are)."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from pims_sync.domain.webhooks import (
    DeliveryAttempt,
    NewEndpoint,
    WebhookEndpoint,
    next_version,
)
from pims_sync.ports.events import EventLog


class MemoryWebhookStore:
    """The `WebhookStore` in a dict; `due` asks the event log for each clinic's last seq."""

    def __init__(self, events: EventLog) -> None:
        self._events = events
        self._endpoints: dict[UUID, WebhookEndpoint] = {}
        self._secrets: dict[UUID, str] = {}
        self._log: list[DeliveryAttempt] = []

    async def add(
        self, endpoint: NewEndpoint, *, secret: str, delivered_seq: int, at: datetime
    ) -> WebhookEndpoint:
        """Store a new active endpoint whose cursor starts at `delivered_seq`."""
        stored = WebhookEndpoint(
            id=uuid.uuid4(),
            clinic_id=endpoint.clinic_id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=endpoint.event_types,
            is_active=True,
            disabled_reason=None,
            disabled_at=None,
            delivered_seq=delivered_seq,
            attempt=0,
            next_attempt_at=None,
            failing_since=None,
            created_at=at,
            updated_at=at,
        )
        self._endpoints[stored.id] = stored
        self._secrets[stored.id] = secret
        return stored

    async def endpoints(self, clinic_id: UUID | None = None) -> list[WebhookEndpoint]:
        """A clinic's endpoints (every clinic's for None), oldest first."""
        found = [e for e in self._endpoints.values() if clinic_id in (None, e.clinic_id)]
        return sorted(found, key=lambda e: (e.created_at, str(e.id)))

    async def get(
        self, endpoint_id: UUID, *, clinic_id: UUID | None = None
    ) -> WebhookEndpoint | None:
        """One endpoint (only if it is this clinic's, when a clinic is given)."""
        found = self._endpoints.get(endpoint_id)
        if found is None or clinic_id not in (None, found.clinic_id):
            return None
        return found

    async def remove(self, *, clinic_id: UUID | None, endpoint_id: UUID) -> bool:
        """Delete an endpoint and its delivery log; whether it existed (for that clinic)."""
        if await self.get(endpoint_id, clinic_id=clinic_id) is None:
            return False
        del self._endpoints[endpoint_id]
        del self._secrets[endpoint_id]
        self._log = [a for a in self._log if a.endpoint_id != endpoint_id]
        return True

    async def secret(self, endpoint: WebhookEndpoint) -> str:
        """The endpoint's signing secret."""
        return self._secrets[endpoint.id]

    async def due(self, *, at: datetime, limit: int) -> list[WebhookEndpoint]:
        """Active endpoints behind their clinic's last seq, with no retry waiting past `at`."""
        found: list[WebhookEndpoint] = []
        for endpoint in self._endpoints.values():
            if not endpoint.is_active:
                continue
            if endpoint.next_attempt_at is not None and endpoint.next_attempt_at > at:
                continue
            if endpoint.delivered_seq < await self._events.last_seq(clinic_id=endpoint.clinic_id):
                found.append(endpoint)
        found.sort(key=lambda e: (e.next_attempt_at is not None, e.next_attempt_at or at, e.id))
        return found[:limit]

    def _move(self, endpoint_id: UUID, version: datetime, **values: Any) -> datetime | None:
        found = self._endpoints.get(endpoint_id)
        if found is None or found.updated_at != version:
            return None
        written = next_version(version, values.pop("at"))
        self._endpoints[endpoint_id] = dataclasses.replace(found, updated_at=written, **values)
        return written

    async def advance(
        self,
        *,
        endpoint_id: UUID,
        version: datetime,
        to_seq: int,
        delivered: Sequence[DeliveryAttempt],
        at: datetime,
    ) -> datetime | None:
        """Move the cursor to `to_seq` (clearing the retry state) and log the 2xx attempts."""
        self._log.extend(delivered)
        return self._move(
            endpoint_id,
            version,
            at=at,
            delivered_seq=to_seq,
            attempt=0,
            next_attempt_at=None,
            failing_since=None,
        )

    async def failed(
        self,
        attempt: DeliveryAttempt,
        *,
        version: datetime,
        next_attempt_at: datetime | None,
        failing_since: datetime,
    ) -> datetime | None:
        """Log a failed attempt and record when to try that event again."""
        self._log.append(attempt)
        return self._move(
            attempt.endpoint_id,
            version,
            at=attempt.attempted_at,
            attempt=attempt.attempt,
            next_attempt_at=next_attempt_at,
            failing_since=failing_since,
        )

    async def log_attempt(self, attempt: DeliveryAttempt) -> None:
        """Log an attempt that moves no cursor (a test event)."""
        self._log.append(attempt)

    async def disable(self, *, endpoint_id: UUID, reason: str, at: datetime) -> bool:
        """Stop delivering to an endpoint (its cursor stays); whether it was active."""
        found = self._endpoints.get(endpoint_id)
        if found is None or not found.is_active:
            return False
        self._endpoints[endpoint_id] = dataclasses.replace(
            found,
            is_active=False,
            disabled_reason=reason,
            disabled_at=at,
            next_attempt_at=None,
            updated_at=next_version(found.updated_at, at),
        )
        return True

    async def replay(
        self,
        *,
        clinic_id: UUID | None,
        endpoint_id: UUID,
        from_seq: int,
        at: datetime,
    ) -> WebhookEndpoint | None:
        """Deliver again from `from_seq`: cursor to `from_seq - 1`, retry state cleared, active."""
        found = await self.get(endpoint_id, clinic_id=clinic_id)
        if found is None:
            return None
        replayed = dataclasses.replace(
            found,
            delivered_seq=max(from_seq - 1, 0),
            attempt=0,
            next_attempt_at=None,
            failing_since=None,
            is_active=True,
            disabled_reason=None,
            disabled_at=None,
            updated_at=next_version(found.updated_at, at),
        )
        self._endpoints[endpoint_id] = replayed
        return replayed

    async def rotate(self) -> int:
        """Nothing is sealed in memory: every secret is as good as re-sealed."""
        return len(self._secrets)

    async def deliveries(
        self, *, clinic_id: UUID | None, endpoint_id: UUID, limit: int
    ) -> list[DeliveryAttempt]:
        """The endpoint's latest attempts, newest first."""
        mine = [
            a
            for a in self._log
            if a.endpoint_id == endpoint_id and clinic_id in (None, a.clinic_id)
        ]
        mine.sort(key=lambda a: (a.attempted_at, a.seq, a.attempt), reverse=True)
        return mine[:limit]
