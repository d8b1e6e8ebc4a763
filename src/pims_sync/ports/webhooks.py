"""Webhook ports: the endpoints and their delivery log, and how a delivery is sent."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pims_sync.domain.webhooks import DeliveryAttempt, NewEndpoint, WebhookEndpoint

# A host name's addresses (the system resolver in production; tests give their own).
Resolver = Callable[[str], Awaitable[list[str]]]


class WebhookStore(Protocol):
    """Endpoints (secrets encrypted), their cursors and retry state, and the delivery log.

    A delivery job's writes (`advance`, `failed`) are conditional on the endpoint's
    version (`updated_at`) it read, and return the version they wrote (None if the row
    changed meanwhile: a replay wins, and the job that lost starts over on its next run).
    """

    async def add(
        self, endpoint: NewEndpoint, *, secret: str, delivered_seq: int, at: datetime
    ) -> WebhookEndpoint:
        """Store a new active endpoint whose cursor starts at `delivered_seq`."""
        ...

    async def endpoints(self, clinic_id: UUID | None = None) -> list[WebhookEndpoint]:
        """A clinic's endpoints (every clinic's for None), oldest first."""
        ...

    async def get(
        self, endpoint_id: UUID, *, clinic_id: UUID | None = None
    ) -> WebhookEndpoint | None:
        """One endpoint (only if it is this clinic's, when a clinic is given)."""
        ...

    async def remove(self, *, clinic_id: UUID | None, endpoint_id: UUID) -> bool:
        """Delete an endpoint and its delivery log; whether it existed (for that clinic)."""
        ...

    async def secret(self, endpoint: WebhookEndpoint) -> str:
        """The endpoint's signing secret (`whsec_…`), decrypted."""
        ...

    async def due(self, *, at: datetime, limit: int) -> list[WebhookEndpoint]:
        """Active endpoints with events past their cursor and no retry waiting beyond `at`."""
        ...

    async def advance(
        self,
        *,
        endpoint_id: UUID,
        version: datetime,
        to_seq: int,
        delivered: Sequence[DeliveryAttempt],
        at: datetime,
    ) -> datetime | None:
        """Move the cursor to `to_seq` (clearing the retry state) and log the 2xx attempts.

        One transaction. The events up to `to_seq` were delivered (`delivered`) or are of
        types the endpoint does not want (no request was made).
        """
        ...

    async def failed(
        self,
        attempt: DeliveryAttempt,
        *,
        version: datetime,
        next_attempt_at: datetime | None,
        failing_since: datetime,
    ) -> datetime | None:
        """Log a failed attempt and record when to try that event again."""
        ...

    async def log_attempt(self, attempt: DeliveryAttempt) -> None:
        """Log an attempt that moves no cursor (a test event)."""
        ...

    async def disable(self, *, endpoint_id: UUID, reason: str, at: datetime) -> bool:
        """Stop delivering to an endpoint (its cursor stays); whether it was active."""
        ...

    async def replay(
        self, *, clinic_id: UUID | None, endpoint_id: UUID, from_seq: int, at: datetime
    ) -> WebhookEndpoint | None:
        """Deliver again from `from_seq`: cursor to `from_seq - 1`, retry state cleared, active."""
        ...

    async def deliveries(
        self, *, clinic_id: UUID | None, endpoint_id: UUID, limit: int
    ) -> list[DeliveryAttempt]:
        """The endpoint's latest attempts, newest first."""
        ...

    async def rotate(self) -> int:
        """Re-seal every secret under the current key (all or none); how many."""
        ...


@dataclass(frozen=True, slots=True)
class SendResult:
    """What a receiver answered (or why it did not)."""

    status_code: int | None
    duration_ms: int
    error: str | None = None
    body: str = ""  # the start of the answer's body, for `webhooks test`
    retry_after_seconds: float | None = None

    @property
    def ok(self) -> bool:
        """A 2xx: the receiver has the event."""
        return self.status_code is not None and 200 <= self.status_code < 300


class WebhookSender(Protocol):
    """Posts a signed body to an endpoint's URL (one shared HTTP client per process)."""

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POST it; a timeout, a refused address or a broken connection is a result, not a raise."""
        ...
