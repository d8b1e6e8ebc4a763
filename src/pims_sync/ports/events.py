"""The outbox port: append a clinic's events, read them back in `seq` order."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pims_sync.domain.outbox import NewEvent, StoredEvent


class EventLog(Protocol):
    """A clinic's committed events; `seq` increases by one per event, in commit order."""

    async def append(
        self, *, clinic_id: UUID, events: Sequence[NewEvent], at: datetime
    ) -> list[StoredEvent]:
        """Commit these events (in their own transaction) and return them numbered."""
        ...

    async def after(self, *, clinic_id: UUID, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` events with `seq` > `after_seq`, in `seq` order."""
        ...

    async def last_seq(self, *, clinic_id: UUID) -> int:
        """The clinic's highest `seq` so far (0 before its first event)."""
        ...
