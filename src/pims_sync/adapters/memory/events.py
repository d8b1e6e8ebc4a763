"""An in-memory EventLog, for fast tests; the memory CaseStore and RunStore append to it."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID, uuid4

from pims_sync.domain.instants import utc
from pims_sync.domain.outbox import EventType, NewEvent, StoredEvent, check_limit, plain_json


class MemoryEventLog:
    """Each clinic's events in a list, in `seq` order."""

    def __init__(self) -> None:
        self._events: dict[UUID, list[StoredEvent]] = {}

    def append_now(
        self, *, clinic_id: UUID, events: Sequence[NewEvent], at: datetime
    ) -> list[StoredEvent]:
        """Append without awaiting: callers in the middle of an atomic memory write use it."""
        at = utc(at)
        # Payloads are copied first: a bad one appends nothing of the batch.
        payloads = [plain_json(event.payload) for event in events]
        log = self._events.setdefault(clinic_id, [])
        stored = [
            StoredEvent(
                id=uuid4(),
                clinic_id=clinic_id,
                seq=len(log) + offset + 1,
                type=EventType(event.type),
                subject_id=event.subject_id,
                payload=payload,
                created_at=at,
            )
            for offset, (event, payload) in enumerate(zip(events, payloads, strict=True))
        ]
        log.extend(stored)
        return stored

    async def append(
        self, *, clinic_id: UUID, events: Sequence[NewEvent], at: datetime
    ) -> list[StoredEvent]:
        """Commit these events and return them numbered."""
        return self.append_now(clinic_id=clinic_id, events=events, at=at)

    async def after(self, *, clinic_id: UUID, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` events with `seq` > `after_seq`, in `seq` order."""
        check_limit(limit)
        log = self._events.get(clinic_id, [])
        # seq n sits at index n - 1.
        return [_copy(event) for event in log[max(after_seq, 0) : max(after_seq, 0) + limit]]

    async def last_seq(self, *, clinic_id: UUID) -> int:
        """The clinic's highest `seq` so far (0 before its first event)."""
        return len(self._events.get(clinic_id, []))


def _copy(event: StoredEvent) -> StoredEvent:
    return StoredEvent(
        id=event.id,
        clinic_id=event.clinic_id,
        seq=event.seq,
        type=event.type,
        subject_id=event.subject_id,
        payload=plain_json(event.payload),
        created_at=event.created_at,
    )
