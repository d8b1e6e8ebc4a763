"""An in-memory SessionCache with the same idle and absolute expiry as the SQL one."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from uuid import UUID

IDLE_SECONDS = 20 * 60
ABSOLUTE_SECONDS = 8 * 60 * 60


@dataclass
class _Entry:
    cookies_json: str
    created_at: float
    last_used_at: float
    binding: str | None = None


class InMemorySessionCache:
    """Keeps cookies per clinic in a dict; expired entries are dropped on load."""

    def __init__(
        self,
        *,
        idle_seconds: float = IDLE_SECONDS,
        absolute_seconds: float = ABSOLUTE_SECONDS,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._entries: dict[UUID, _Entry] = {}
        self._idle = idle_seconds
        self._absolute = absolute_seconds
        self._clock = clock

    async def load(self, clinic_id: UUID, binding: str | None = None) -> str | None:
        """The cookies while the session is within both expiries and of this binding."""
        entry = self._entries.get(clinic_id)
        if entry is None:
            return None
        now = self._clock()
        expired = now - entry.last_used_at > self._idle or now - entry.created_at > self._absolute
        if expired or entry.binding != binding:
            del self._entries[clinic_id]
            return None
        return entry.cookies_json

    async def save(self, clinic_id: UUID, cookies_json: str, binding: str | None = None) -> None:
        """A fresh login's cookies, under its binding."""
        now = self._clock()
        self._entries[clinic_id] = _Entry(cookies_json, now, now, binding)

    async def touch(self, clinic_id: UUID, cookies_json: str | None = None) -> None:
        """Mark used now (and refresh cookies if given)."""
        entry = self._entries.get(clinic_id)
        if entry is not None:
            entry.last_used_at = self._clock()
            if cookies_json is not None:
                entry.cookies_json = cookies_json

    async def forget(self, clinic_id: UUID) -> None:
        """Drop the clinic's session."""
        self._entries.pop(clinic_id, None)
