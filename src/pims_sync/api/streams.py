"""Event streams per API key: at most SSE_MAX_STREAMS_PER_KEY open at once, in this process.

A stream takes a slot when it is accepted and gives it back when its answer ends, however
it ends (run over, client gone, server stopping): `LeasedStream` releases in `finally`
around the whole response, so a slot is never lost to a stream that never started.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterable, Mapping
from uuid import UUID

from fastapi.sse import EventSourceResponse
from starlette.types import Receive, Scope, Send

from pims_sync.errors import TooManyStreamsError

TOO_MANY = "Too many open event streams for this API key (at most {limit}); close one first"


class StreamSlots:
    """Counts the open event streams of each API key and refuses past the limit."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: Counter[UUID] = Counter()

    def open_for(self, key_id: UUID) -> int:
        """How many streams this key has open now."""
        return self._open[key_id]

    def take(self, key_id: UUID) -> None:
        """Take a slot for the key, or TooManyStreamsError when it has `limit` open."""
        if self._open[key_id] >= self.limit:
            message = TOO_MANY.format(limit=self.limit)
            raise TooManyStreamsError(message)
        self._open[key_id] += 1

    def give_back(self, key_id: UUID) -> None:
        """Return the key's slot."""
        self._open[key_id] -= 1
        if self._open[key_id] <= 0:
            del self._open[key_id]


class LeasedStream(EventSourceResponse):
    """An event stream (text/event-stream) that holds one of its key's slots until it ends."""

    def __init__(
        self,
        content: AsyncIterable[bytes],
        *,
        slots: StreamSlots,
        key_id: UUID,
        headers: Mapping[str, str],
    ) -> None:
        slots.take(key_id)
        super().__init__(content, headers=headers)
        self._slots = slots
        self._key_id = key_id

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Stream, then give the slot back whatever happened."""
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._slots.give_back(self._key_id)
