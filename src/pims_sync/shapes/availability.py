"""`GET /api/availability`, `/api/availability/next` and the holds: free slots and holds.

Slot and hold times are the clinic's wall clock with the offset of their own instant
(`2026-06-11T09:00:00-07:00`): what a receptionist reads out; bookkeeping instants
(`generatedAt`, `lastSyncAt`, `expiresAt`) are UTC `…Z` like every other answer.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Literal
from uuid import UUID

from pydantic import Field, PlainSerializer, WithJsonSchema

from pims_sync.domain.availability import FreeSlot
from pims_sync.shapes.base import CamelModel, Instant, omitted


def clinic_time(moment: datetime) -> str:
    """A clinic-zone time with its offset, to the second."""
    return moment.isoformat(timespec="seconds")


ClinicTime = Annotated[
    datetime,
    PlainSerializer(clinic_time, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class SlotOut(CamelModel):
    """A free start, its end, and the columns the visit fits on."""

    start: ClinicTime
    end: ClinicTime
    resource_ids: list[str]

    @classmethod
    def of(cls, slot: FreeSlot) -> SlotOut:
        """From a computed slot."""
        return cls(start=slot.start, end=slot.end, resource_ids=list(slot.resource_ids))


class DayOut(CamelModel):
    """One clinic day and its free slots."""

    day: date = Field(alias="date")
    slots: list[SlotOut]


class FreshnessOut(CamelModel):
    """How old the mirror of the asked days was, and whether it was read again first."""

    status: Literal["fresh", "refreshed", "stale"] = Field(
        description="`fresh`: read within AVAILABILITY_MAX_AGE_SECONDS; `refreshed`: read "
        "again before this answer; `stale`: older, and it could not be read in time."
    )
    last_sync_at: Instant | None = omitted("When the stalest asked day was last read.")
    age_seconds: int | None = omitted("Its age when the answer was made.")
    sync_id: str | None = omitted("The inbound run started or joined to read the days.")
    detail: str | None = omitted("Why the answer is stale, or what was read.")


class AvailabilityOut(CamelModel):
    """Free slots of the asked days."""

    clinic_id: UUID
    timezone: str
    generated_at: Instant
    duration_minutes: int
    freshness: FreshnessOut
    days: list[DayOut]


class NextSlotsOut(CamelModel):
    """The next free slots (what a caller hears as alternatives)."""

    clinic_id: UUID
    timezone: str
    generated_at: Instant
    duration_minutes: int
    freshness: FreshnessOut
    slots: list[SlotOut]


class HoldOut(CamelModel):
    """A placed hold: its column and visit (clinic times), until when it holds."""

    hold_id: UUID
    clinic_id: UUID
    resource_id: str
    start: ClinicTime
    end: ClinicTime
    expires_at: Instant
    ttl_seconds: int
    reference: str | None = omitted("The caller's label, as given.")


class HoldReleased(CamelModel):
    """What `DELETE` found: the hold was live (now released), had expired, or was released."""

    hold_id: UUID
    status: Literal["released", "expired", "already_released"]
