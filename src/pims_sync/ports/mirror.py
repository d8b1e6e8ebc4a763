"""ScheduleMirror: the calendar as inbound read it, written per fetch, read by availability."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Protocol
from uuid import UUID

from pims_sync.domain.mirror import MirrorEntry, MirrorListing, MirrorPlan


class ScheduleMirror(Protocol):
    """The schedule mirror of each clinic; every method is scoped by `clinic_id`."""

    async def record(
        self,
        *,
        clinic_id: UUID,
        listing: MirrorListing,
        days: Sequence[date],
        now: datetime,
        force: bool = False,
    ) -> MirrorPlan:
        """Write one fetch in one transaction; returns what was written.

        Reads the stored entries overlapping the listing's window and those of its keys,
        writes what `plan_mirror` decides (batched: a fixed number of statements whatever
        the size), stamps every entry of the window `last_synced_at = now` and records the
        `days` as read at `now`.
        """
        ...

    async def entries_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime
    ) -> list[MirrorEntry]:
        """The live entries (not marked removed) overlapping [start, end), by start."""
        ...

    async def resource_ids(self, *, clinic_id: UUID, since: datetime) -> list[str]:
        """The calendar columns of the entries that end after `since`, sorted."""
        ...

    async def synced_days(
        self, *, clinic_id: UUID, first: date, last: date
    ) -> dict[date, datetime]:
        """When each day of [first, last] was last read from the PIMS (never read: absent)."""
        ...
