"""Events of the outbox: what changed, for downstream software (no personal data)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

# `seq` is a bigint in the database: a larger number is no seq at all.
MAX_SEQ = 2**63 - 1


class EventType(StrEnum):
    """The types of outbox events, as consumers see them."""

    CASE_CREATED = "case.created"
    CASE_UPDATED = "case.updated"
    CASE_ENRICHED = "case.enriched"
    CASE_DELETED = "case.deleted"
    CASE_RESTORED = "case.restored"
    SYNC_COMPLETED = "sync.completed"
    SYNC_FAILED = "sync.failed"
    CLINIC_FRESHNESS_CHANGED = "clinic.freshness_changed"
    CLINIC_PAUSED = "clinic.paused"
    CLINIC_RESUMED = "clinic.resumed"
    CLINIC_FAILURES_WARNING = "clinic.failures_warning"
    WEBHOOK_DISABLED = "webhook.disabled"
    BOOKING_CREATED = "booking.created"
    BOOKING_CANCELLED = "booking.cancelled"
    BOOKING_RESCHEDULED = "booking.rescheduled"
    BOOKING_FAILED = "booking.failed"


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append: its type, its subject, a payload of ids, times and field names."""

    type: EventType
    subject_id: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as committed: numbered per clinic by `seq`, in commit order."""

    id: UUID
    clinic_id: UUID
    seq: int
    type: EventType
    subject_id: str | None
    payload: Mapping[str, Any]
    created_at: datetime


def check_limit(limit: int) -> None:
    """A page of events holds at least one: a smaller limit is a caller's bug."""
    if limit < 1:
        raise ValueError(f"a page of events holds at least one event, not {limit}")


def plain_json(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The payload as stored and read back; TypeError for what is not plain JSON (a bug)."""
    copied: dict[str, Any] = json.loads(json.dumps(dict(payload), ensure_ascii=False))
    return copied
