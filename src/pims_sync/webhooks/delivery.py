"""Delivery of one endpoint's events: in `seq` order, at least once, with retries.

A delivery job takes the endpoint's events after its cursor (`delivered_seq`) one at a
time. A 2xx moves the cursor past the event; events of types the endpoint does not want
move it without a request. Any other answer, a timeout or a connection failure ends the
job and records when to try that same event again (the retry schedule, with jitter); the
events behind it wait, so a receiver sees them in order. An endpoint whose deliveries
have failed for 24 hours is disabled, with a log line and a `webhook.disabled` event.

The cursor moves only after the receiver answered 2xx, and is written (with the log rows
of the 2xx attempts) every FLUSH_EVERY events or FLUSH_SECONDS, before a failure is
recorded and when the job ends: a process killed in between sends those events again,
with the same `Webhook-Id`, which is how receivers deduplicate.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from pims_sync.domain.instants import iso
from pims_sync.domain.outbox import EventType, NewEvent, StoredEvent
from pims_sync.domain.webhooks import (
    DeliveryAttempt,
    DeliveryOutcome,
    WebhookEndpoint,
    disabled_reason,
    retry_delay,
    should_disable,
    url_host,
)
from pims_sync.logs import log_context
from pims_sync.ports.events import EventLog
from pims_sync.ports.queue import DeliveryJob
from pims_sync.ports.webhooks import SendResult, WebhookSender, WebhookStore
from pims_sync.shapes.webhooks import WebhookBody
from pims_sync.webhooks.signing import body_bytes, signed_headers

log = logging.getLogger("pims_sync.webhooks")

BATCH = 200  # events read per query
FLUSH_EVERY = 100  # delivered events per write of the cursor and the log...
FLUSH_SECONDS = 1.0  # ...and at least this often while a job is sending
MAX_RETRY_AFTER = timedelta(hours=6)  # a receiver's Retry-After is honoured up to this


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """The retry schedule's scale (1 in production; tests shrink it) and the read batch."""

    retry_scale: float = 1.0
    batch: int = BATCH


@dataclass
class _Pass:
    """One job's pass over one endpoint: what it has sent, and what is stored of it."""

    endpoint: WebhookEndpoint
    secret: str
    version: datetime  # the row's, as last read or written: every write is conditional on it
    cursor: int  # the cursor as stored
    position: int  # the last seq sent (2xx) or passed over; the cursor catches up on flush
    delivered: list[DeliveryAttempt] = field(default_factory=list)
    flushed_at: float = field(default_factory=time.monotonic)

    def due(self) -> bool:
        """Whether enough went out since the last write of the cursor."""
        waited = time.monotonic() - self.flushed_at
        return len(self.delivered) >= FLUSH_EVERY or waited >= FLUSH_SECONDS


class Deliverer:
    """Executes delivery jobs: one endpoint's due events, then done until woken again."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        events: EventLog,
        sender: WebhookSender,
        now: Callable[[], datetime],
        options: DeliveryOptions | None = None,
        draw: Callable[[], float] = random.random,
    ) -> None:
        self._store = store
        self._events = events
        self._sender = sender
        self._now = now
        self._options = options or DeliveryOptions()
        self._draw = draw

    async def __call__(self, job: DeliveryJob) -> None:
        """Deliver what is due to the job's endpoint (nothing if it is gone or disabled)."""
        endpoint = await self._store.get(job.endpoint_id)
        if endpoint is None or not endpoint.is_active:
            return
        with log_context(clinic_id=endpoint.clinic_id, webhook_id=endpoint.id):
            if endpoint.next_attempt_at is not None and endpoint.next_attempt_at > self._now():
                return  # a retry is waiting; the pump wakes the endpoint when it is due
            secret = await self._store.secret(endpoint)
            cursor = endpoint.delivered_seq
            state = _Pass(endpoint, secret, endpoint.updated_at, cursor=cursor, position=cursor)
            await self._drain(state)

    async def _drain(self, state: _Pass) -> None:
        """Deliver event after event until none is left, one fails, or a replay intervenes."""
        while True:
            events = await self._events.after(
                clinic_id=state.endpoint.clinic_id,
                after_seq=state.position,
                limit=self._options.batch,
            )
            if not events:
                await self._flush(state)
                return
            for event in events:
                if not await self._pass(state, event):
                    return

    async def _pass(self, state: _Pass, event: StoredEvent) -> bool:
        """Send the event (or pass over it); whether to go on with the next one."""
        if not state.endpoint.wants(event.type):
            state.position = event.seq  # no request: the next write of the cursor passes it
            return True
        attempt, result = await self._send(state, event)
        if not result.ok:
            if await self._flush(state):
                await self._failed(state, attempt, result)
            else:  # replayed meanwhile: the attempt is still logged, the retry state not
                await self._store.log_attempt(attempt)
            return False
        state.delivered.append(attempt)
        state.position = event.seq
        state.endpoint = replace(
            state.endpoint, attempt=0, next_attempt_at=None, failing_since=None
        )
        return not state.due() or await self._flush(state)

    async def _flush(self, state: _Pass) -> bool:
        """Write the cursor and the 2xx attempts since the last write; False if replayed.

        Written every FLUSH_EVERY events or FLUSH_SECONDS, not per event: a process killed
        in between sends those events again (at least once; receivers deduplicate).
        """
        if state.position == state.cursor and not state.delivered:
            return True
        written = await self._store.advance(
            endpoint_id=state.endpoint.id,
            version=state.version,
            to_seq=state.position,
            delivered=state.delivered,
            at=self._now(),
        )
        state.delivered = []
        state.flushed_at = time.monotonic()
        if written is None:
            return False  # replayed meanwhile: the next job starts from the new cursor
        state.version, state.cursor = written, state.position
        return True

    async def _send(self, state: _Pass, event: StoredEvent) -> tuple[DeliveryAttempt, SendResult]:
        """Sign and POST one event; the attempt as the log keeps it, and the answer."""
        started = self._now()
        body = body_bytes(WebhookBody.of(event))
        headers = signed_headers(
            secret=state.secret, message_id=str(event.id), at=started, body=body
        )
        result = await self._sender.send(state.endpoint.url, body, headers)
        attempt = DeliveryAttempt(
            endpoint_id=state.endpoint.id,
            clinic_id=state.endpoint.clinic_id,
            event_id=event.id,
            seq=event.seq,
            attempt=state.endpoint.attempt + 1,
            outcome=DeliveryOutcome.DELIVERED if result.ok else DeliveryOutcome.FAILED,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
            attempted_at=started,
        )
        return attempt, result

    async def _failed(self, state: _Pass, attempt: DeliveryAttempt, result: SendResult) -> None:
        """Record the failure and when to retry, or disable an endpoint failing for too long."""
        now = self._now()
        failing_since = state.endpoint.failing_since or attempt.attempted_at
        disable = should_disable(failing_since, now)
        next_at = None if disable else now + self._wait(attempt.attempt, result)
        log.info(
            "webhook delivery of seq %d failed (attempt %d, %s)%s",
            attempt.seq,
            attempt.attempt,
            attempt.error or f"status {attempt.status_code}",
            "" if next_at is None else f"; next attempt at {next_at.isoformat()}",
        )
        await self._store.failed(
            attempt, version=state.version, next_attempt_at=next_at, failing_since=failing_since
        )
        if disable:
            await self.disable(state.endpoint, failing_since)

    def _wait(self, failed_attempts: int, result: SendResult) -> timedelta:
        """The schedule's wait (scaled), or longer if the receiver asked (Retry-After)."""
        scale = self._options.retry_scale
        wait = retry_delay(failed_attempts, self._draw()) * scale
        if result.retry_after_seconds is not None:
            asked = min(timedelta(seconds=result.retry_after_seconds), MAX_RETRY_AFTER)
            wait = max(wait, asked * scale)
        return wait

    async def disable(self, endpoint: WebhookEndpoint, failing_since: datetime) -> None:
        """Stop delivering to the endpoint; say so in the log and in the clinic's events."""
        now = self._now()
        reason = disabled_reason(failing_since)
        if not await self._store.disable(endpoint_id=endpoint.id, reason=reason, at=now):
            return  # removed or disabled meanwhile
        log.warning(
            "webhook %s (host %s) disabled: %s", endpoint.id, url_host(endpoint.url), reason
        )
        event = NewEvent(
            type=EventType.WEBHOOK_DISABLED,
            subject_id=str(endpoint.id),
            payload={
                "webhookId": str(endpoint.id),
                "reason": reason,
                "failingSince": iso(failing_since),
                "deliveredSeq": endpoint.delivered_seq,
            },
        )
        await self._events.append(clinic_id=endpoint.clinic_id, events=[event], at=now)
