"""Exactly once: a booking write claims its Idempotency-Key, records progress and its outcome.

`WriteLedger.begin` claims the key (or meets it stored: the stored answer, 409 while another
request works on it, 422 for another body, or a take-over to resume a crashed, unknown or
unfinished write). The holder then saves its progress before each PIMS write, and its
outcome at the end; each save holds only while its attempt is the row's
(docs/booking.md#exactly-once).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from pims_sync.domain.write_requests import (
    DEFAULT_LEASE,
    RETRY,
    UNFINISHED,
    Repeat,
    WriteRequest,
    WriteRoute,
    WriteState,
    body_hash,
    on_repeat,
)
from pims_sync.errors import WriteInProgressError
from pims_sync.ports.write_requests import WriteRequestStore

log = logging.getLogger(__name__)

# What an outcome adds to a request's result, dropped when a repeat resumes it.
ANSWER = "answer"
OUTCOME_MARKS = frozenset({RETRY, UNFINISHED, ANSWER, "error"})


@dataclass(frozen=True, slots=True)
class Begun:
    """A write request this call holds (`replay` False), or one to answer as stored."""

    request: WriteRequest
    replay: bool = False

    @property
    def progress(self) -> Mapping[str, Any]:
        """What an earlier attempt recorded (empty for a new request)."""
        return self.request.result


class WriteLedger:
    """Claims, take-overs and saves of write requests over the store."""

    def __init__(
        self,
        store: WriteRequestStore,
        *,
        lease: timedelta = DEFAULT_LEASE,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.store = store
        self.lease = lease
        self._now = now

    async def begin(
        self, *, clinic_id: UUID, key: str, route: WriteRoute, body: Mapping[str, Any]
    ) -> Begun:
        """Hold the key's request, or say to replay it; 422 another body, 409 in flight."""
        digest = body_hash(route, body)
        now = self._now()
        claim = await self.store.claim(
            clinic_id=clinic_id, key=key, route=route, body_hash=digest, now=now, lease=self.lease
        )
        if claim.claimed:
            return Begun(claim.request)
        if on_repeat(claim.request, route=route, digest=digest, now=now) is Repeat.REPLAY:
            return Begun(claim.request, replay=True)
        taken = await self.store.take_over(claim.request, now=now, lease=self.lease)
        if taken is None:  # another repeat took it over between our read and our update
            raise WriteInProgressError(
                f"a request with Idempotency-Key {key!r} is still in progress; "
                "repeat it once that one has answered",
                key=key,
            )
        log.info(
            "write request resumed (attempt %d, was %s)", taken.attempt, claim.request.state.value
        )
        return Begun(taken)

    async def progress(self, held: WriteRequest, progress: Mapping[str, Any]) -> WriteRequest:
        """Record what is about to be (or was) sent, before the next PIMS write."""
        return await self._save(held, WriteState.PENDING, progress)

    async def finish(
        self, held: WriteRequest, state: WriteState, result: Mapping[str, Any]
    ) -> WriteRequest:
        """Record the outcome; a repeat gets it (or resumes from it, see the domain)."""
        return await self._save(held, state, result)

    async def _save(
        self, held: WriteRequest, state: WriteState, result: Mapping[str, Any]
    ) -> WriteRequest:
        saved = await self.store.save(held, state=state, result=result, now=self._now())
        if saved is None:
            # Our lease ran out and a repeat took over: it reads back before writing, so
            # nothing is written twice, and it (or the next repeat) answers what IDEXX holds.
            log.warning("write request taken over while in progress (attempt %d)", held.attempt)
            raise WriteInProgressError(
                f"the request with Idempotency-Key {held.key!r} was taken over by a repeat; "
                "repeat it to read its outcome",
                key=held.key,
            )
        return saved


class WriteRun:
    """One held write request and its progress, saved before each PIMS write."""

    def __init__(self, ledger: WriteLedger, begun: Begun) -> None:
        self.ledger = ledger
        self.held = begun.request
        # A resumed request starts from what was recorded, without the last outcome's marks.
        self.progress: dict[str, Any] = {
            name: value for name, value in begun.progress.items() if name not in OUTCOME_MARKS
        }

    @property
    def key(self) -> str:
        """The request's Idempotency-Key."""
        return self.held.key

    async def note(self, **changes: Any) -> None:
        """Record progress (None removes an entry) before the next step."""
        for name, value in changes.items():
            if value is None:
                self.progress.pop(name, None)
            else:
                self.progress[name] = value
        self.held = await self.ledger.progress(self.held, self.progress)

    async def finish(self, state: WriteState, result: Mapping[str, Any]) -> None:
        """Record the outcome."""
        self.held = await self.ledger.finish(self.held, state, result)
