"""Holds: a free slot kept for a caller for a few minutes while the client confirms.

A hold keeps a column from `start - bufferBefore` to `end + bufferAfter` until it expires
or is released; availability counts it only while it is live. Two live holds of one
column never overlap, and a hold never takes time an appointment or block holds
(docs/availability.md#holds).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pims_sync.domain.availability import HeldTime
from pims_sync.errors import InvalidInputError

DEFAULT_TTL_SECONDS = 300
MIN_TTL_SECONDS, MAX_TTL_SECONDS = 30, 900
MAX_REFERENCE_CHARS = 200


class HoldState(StrEnum):
    """What a hold is now."""

    LIVE = "live"
    EXPIRED = "expired"
    RELEASED = "released"


@dataclass(frozen=True, slots=True)
class NewHold:
    """A hold to place: the visit, its time with buffers, when it lapses, a caller's label."""

    start: datetime
    end: datetime
    busy_from: datetime
    busy_until: datetime
    expires_at: datetime
    reference: str | None = None


@dataclass(frozen=True, slots=True)
class Hold:
    """A stored hold."""

    id: UUID
    clinic_id: UUID
    resource_id: str
    start: datetime
    end: datetime
    busy_from: datetime
    busy_until: datetime
    expires_at: datetime
    created_at: datetime
    released_at: datetime | None = None
    reference: str | None = None

    def state(self, now: datetime) -> HoldState:
        """Live until released or expired (an expired hold stops counting at once).

        A hold marked ended at its expiry (to make room for another) is expired, not released.
        """
        if self.released_at is not None and self.released_at < self.expires_at:
            return HoldState.RELEASED
        if self.released_at is None and now < self.expires_at:
            return HoldState.LIVE
        return HoldState.EXPIRED

    @property
    def held_time(self) -> HeldTime:
        """The time it keeps on its column."""
        return HeldTime(self.resource_id, self.busy_from, self.busy_until)


def check_ttl(ttl_seconds: int) -> timedelta:
    """A hold's lifetime, within its bounds."""
    if not MIN_TTL_SECONDS <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidInputError(
            f"ttlSeconds must be a whole number from {MIN_TTL_SECONDS} to {MAX_TTL_SECONDS}"
        )
    return timedelta(seconds=ttl_seconds)


def check_reference(reference: str | None) -> str | None:
    """A caller's label for the hold (a call id): printable, at most 200 characters."""
    if reference is None:
        return None
    if not reference.strip() or len(reference) > MAX_REFERENCE_CHARS or not reference.isprintable():
        raise InvalidInputError(
            f"reference must be 1 to {MAX_REFERENCE_CHARS} printable characters"
        )
    return reference
