"""Exactly-once PIMS writes: a write request's states and what a repeat of its key meets.

Every booking write (create, cancel, reschedule) is one `WriteRequest`, keyed by the
caller's `Idempotency-Key` within its clinic. Its `state` says what the PIMS holds:

- `pending`: claimed; the write may be on its way. Its `lease_until` says how long the
  request that claimed it may work on it; past that it crashed (or hangs) and a repeat
  takes over.
- `succeeded`: read back and confirmed; `result` is the answer, given again to repeats.
- `failed`: the PIMS does not hold the write. A refusal (the slot is taken, IDEXX refused
  the form) is final and given again; a write read back as absent, or stopped before it
  was sent by a transient failure, is `retry`: a repeat does it again.
- `unknown`: sent, but no read-back could tell whether it landed. A repeat reads back
  first, never writes blindly.

A reschedule whose new appointment is confirmed but whose old one is still booked is
`succeeded` with `unfinished`: a repeat finishes the cancel (docs/booking.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any
from uuid import UUID

from pims_sync.domain.instants import utc
from pims_sync.errors import (
    IdempotencyKeyInvalidError,
    IdempotencyKeyReusedError,
    WriteInProgressError,
)

# How long a claim lets its request work before a repeat may take it over as crashed:
# longer than a write with its login, fresh read, create and read-back ever takes.
DEFAULT_LEASE = timedelta(seconds=120)
# Printable ASCII without spaces, as HTTP header values and the usual UUID/ULID keys are.
KEY_FORM = re.compile(r"[\x21-\x7e]{1,255}")
# Keys the service makes for a cancel sent without one (it is audited all the same).
SERVICE_KEY_PREFIX = "auto:"
# Result keys the state machine reads (the rest is the booking service's).
RETRY = "retry"
UNFINISHED = "unfinished"


class WriteState(StrEnum):
    """What the PIMS holds of a write request."""

    PENDING = "pending"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    UNKNOWN = "unknown"


class WriteRoute(StrEnum):
    """Which write a request is (its key means one write of one route)."""

    CREATE = "create"
    CANCEL = "cancel"
    RESCHEDULE = "reschedule"


class Repeat(StrEnum):
    """What a request meeting a stored key does."""

    REPLAY = "replay"  # answer the stored outcome; no PIMS call
    IN_PROGRESS = "in_progress"  # another request holds it: 409 write_in_progress
    RESUME = "resume"  # take it over: read back what was sent, then go on


@dataclass(frozen=True, slots=True)
class WriteRequest:
    """One write request as stored; `attempt` grows at each take-over (compare-and-set)."""

    clinic_id: UUID
    key: str
    route: WriteRoute
    body_hash: str
    state: WriteState
    attempt: int
    created_at: datetime
    updated_at: datetime
    lease_until: datetime | None = None
    result: Mapping[str, Any] = field(default_factory=dict)

    @property
    def final(self) -> bool:
        """Whether a repeat only gets the stored outcome."""
        if self.state is WriteState.SUCCEEDED:
            return not self.result.get(UNFINISHED, False)
        if self.state is WriteState.FAILED:
            return not self.result.get(RETRY, False)
        return False

    def leased(self, now: datetime) -> bool:
        """Whether the request that claimed it is still within its lease."""
        return (
            self.state is WriteState.PENDING
            and self.lease_until is not None
            and utc(now) < self.lease_until
        )


def check_key(key: str) -> str:
    """The key as given, or IdempotencyKeyInvalidError when it cannot be one."""
    if not KEY_FORM.fullmatch(key):
        raise IdempotencyKeyInvalidError(
            "Idempotency-Key must be 1 to 255 printable ASCII characters without spaces"
        )
    if key.startswith(SERVICE_KEY_PREFIX):
        raise IdempotencyKeyInvalidError(
            f"Idempotency-Key must not start with {SERVICE_KEY_PREFIX!r} (the service's own keys)"
        )
    return key


def body_hash(route: WriteRoute, body: Mapping[str, Any]) -> str:
    """The SHA-256 of the route and the body's canonical JSON (key order and spacing ignored)."""
    canonical = json.dumps(
        {"route": route.value, "body": body},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()


def on_repeat(stored: WriteRequest, *, route: WriteRoute, digest: str, now: datetime) -> Repeat:
    """What a request with a stored key does; 422 for another body, 409 while in flight."""
    if stored.route is not route or stored.body_hash != digest:
        raise IdempotencyKeyReusedError(
            f"Idempotency-Key {stored.key!r} was used for another {stored.route.value} request "
            "body; use a new key for a new request",
            key=stored.key,
        )
    if stored.final:
        return Repeat.REPLAY
    if stored.leased(now):
        raise WriteInProgressError(
            f"a request with Idempotency-Key {stored.key!r} is still in progress; "
            "repeat it once that one has answered",
            key=stored.key,
        )
    return Repeat.RESUME


def after_read_back(found: bool | None) -> WriteState:
    """What a read-back of a sent write decides: seen, absent (safe to retry), cannot tell."""
    if found is None:
        return WriteState.UNKNOWN
    return WriteState.SUCCEEDED if found else WriteState.FAILED
