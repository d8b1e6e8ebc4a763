"""Live run events for this process (SSE, CLI progress bars): publish, replay, follow."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from uuid import UUID

EventType = Literal["phase", "progress", "log", "completed", "failed"]
TERMINAL: frozenset[str] = frozenset({"completed", "failed"})
# A run's events stay this long after it ends, so a late subscriber still gets them.
RETENTION_SECONDS = 300.0
# A long run must not grow without bound; progress is throttled, so this is generous.
MAX_EVENTS_PER_RUN = 2000


@dataclass(frozen=True, slots=True)
class RunEvent:
    """One event of a run; `data` is JSON-serialisable and holds no personal data."""

    type: EventType
    data: dict[str, Any] = field(default_factory=dict)


class _Channel:
    """The events of one run, and a wake-up for followers."""

    def __init__(self) -> None:
        self.events: list[RunEvent] = []
        self.changed = asyncio.Condition()
        self.ended = False
        self.dropped = 0


class EventBus:
    """In-process bus: a run's events are kept until some minutes after it ends."""

    def __init__(self, *, retention_seconds: float = RETENTION_SECONDS) -> None:
        self._channels: dict[UUID, _Channel] = {}
        self._retention = retention_seconds

    def open(self, run_id: UUID) -> None:
        """Make the run known (subscribers can attach before its first event)."""
        self._channels.setdefault(run_id, _Channel())

    def known(self, run_id: UUID) -> bool:
        """Whether this process holds events of the run."""
        return run_id in self._channels

    async def publish(self, run_id: UUID, event: RunEvent) -> None:
        """Append an event and wake the followers; a terminal event starts the countdown."""
        channel = self._channels.setdefault(run_id, _Channel())
        if channel.ended:
            return
        if len(channel.events) >= MAX_EVENTS_PER_RUN and event.type not in TERMINAL:
            channel.dropped += 1
            return
        channel.events.append(event)
        if event.type in TERMINAL:
            channel.ended = True
            asyncio.get_running_loop().call_later(self._retention, self._forget, run_id, channel)
        async with channel.changed:
            channel.changed.notify_all()

    def _forget(self, run_id: UUID, channel: _Channel) -> None:
        if self._channels.get(run_id) is channel:
            del self._channels[run_id]

    def subscribe(self, run_id: UUID) -> AsyncIterator[RunEvent] | None:
        """The run's past events then the new ones, until it ends; None if unknown here."""
        channel = self._channels.get(run_id)
        if channel is None:
            return None
        return self._follow(channel)

    @staticmethod
    async def _follow(channel: _Channel) -> AsyncIterator[RunEvent]:
        index = 0
        while True:
            while index < len(channel.events):
                event = channel.events[index]
                index += 1
                yield event
                if event.type in TERMINAL:
                    return
            async with channel.changed:
                await channel.changed.wait_for(_grown(channel, index))


def _grown(channel: _Channel, seen: int) -> Callable[[], bool]:
    """A predicate: the channel holds more than `seen` events."""
    return lambda: seen < len(channel.events)
