"""`GET /api/events`: a page of a clinic's outbox events, and where to read on."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from pydantic import Field

from pims_sync.domain.outbox import StoredEvent
from pims_sync.shapes.base import CamelModel, Instant


class FeedEvent(CamelModel):
    """One committed event: ids, times, status/type and field names, no personal data."""

    id: UUID = Field(description="The event's id: the same in the feed and in webhooks.")
    seq: int = Field(description="The clinic's event number: 1, 2, 3, … in commit order.")
    type: str
    subject_id: str | None = Field(description="The case's or run's id (`caseId`, `runId`).")
    payload: dict[str, Any]
    created_at: Instant

    @classmethod
    def of(cls, event: StoredEvent) -> FeedEvent:
        """From a stored event."""
        return cls(
            id=event.id,
            seq=event.seq,
            type=event.type.value,
            subject_id=event.subject_id,
            payload=dict(event.payload),
            created_at=event.created_at,
        )


class EventFeed(CamelModel):
    """A page of events after `afterSeq`, in `seq` order."""

    clinic_id: UUID
    events: list[FeedEvent]
    next_seq: int = Field(description="Pass as `afterSeq` next time (the last seq returned).")
    has_more: bool = Field(description="More events wait after this page: ask again at once.")
