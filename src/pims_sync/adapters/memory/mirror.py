"""The schedule mirror, booking rules and holds in memory, for fast tests (same plans as SQL)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from uuid import UUID

from pims_sync.domain.appointments import overlaps
from pims_sync.domain.availability import HeldTime, Schedule
from pims_sync.domain.booking import DEFAULT_RULES, BookingRules
from pims_sync.domain.holds import Hold, HoldState, NewHold
from pims_sync.domain.instants import utc
from pims_sync.domain.mirror import (
    EntryKey,
    MirrorEntry,
    MirrorListing,
    MirrorPlan,
    StoredEntry,
    plan_mirror,
)
from pims_sync.ports.booking import BookingConfig
from pims_sync.ports.holds import Fits


@dataclass
class MirrorRow:
    """One stored entry with its bookkeeping (what the SQL row has)."""

    stored: StoredEntry
    last_synced_at: datetime


class MemoryScheduleMirror:
    """Entries by clinic and key; days read by clinic and day."""

    def __init__(self) -> None:
        self.rows: dict[UUID, dict[EntryKey, MirrorRow]] = {}
        self.days: dict[UUID, dict[date, datetime]] = {}

    async def record(
        self,
        *,
        clinic_id: UUID,
        listing: MirrorListing,
        days: Sequence[date],
        now: datetime,
        force: bool = False,
    ) -> MirrorPlan:
        """Plan and write one fetch (see the port)."""
        now = utc(now)
        rows = self.rows.setdefault(clinic_id, {})
        plan = plan_mirror([row.stored for row in rows.values()], listing, now=now, force=force)
        for write in plan.writes:
            entry = write.entry
            rows[entry.key] = MirrorRow(StoredEntry(entry, entry.sync_hash, write.deleted_at), now)
        for key in plan.removals:
            row = rows[key]
            if row.stored.live:
                row.stored = StoredEntry(row.stored.entry, row.stored.sync_hash, now)
        for row in rows.values():
            entry = row.stored.entry
            if overlaps(entry.starts_at, entry.ends_at, listing.start, listing.end):
                row.last_synced_at = now
        self.days.setdefault(clinic_id, {}).update(dict.fromkeys(days, now))
        return plan

    async def entries_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime
    ) -> list[MirrorEntry]:
        """The live entries overlapping [start, end), by start."""
        live = [
            row.stored.entry for row in self.rows.get(clinic_id, {}).values() if row.stored.live
        ]
        found = [e for e in live if overlaps(e.starts_at, e.ends_at, start, end)]
        return sorted(found, key=lambda entry: (entry.starts_at, entry.external_id))

    async def resource_ids(self, *, clinic_id: UUID, since: datetime) -> list[str]:
        """The calendar columns of the entries that start at or after `since`, sorted."""
        return sorted(
            {
                row.stored.entry.resource_id
                for row in self.rows.get(clinic_id, {}).values()
                if row.stored.entry.resource_id is not None and row.stored.entry.starts_at >= since
            }
        )

    async def synced_days(
        self, *, clinic_id: UUID, first: date, last: date
    ) -> dict[date, datetime]:
        """When each day of [first, last] was last read (never read: absent)."""
        return {d: at for d, at in self.days.get(clinic_id, {}).items() if first <= d <= last}


class MemoryBookingConfigStore:
    """Booking rules by clinic, in memory."""

    def __init__(self) -> None:
        self.configs: dict[UUID, BookingConfig] = {}

    async def get(self, clinic_id: UUID) -> BookingConfig:
        """The clinic's rules, or the defaults when it has none."""
        return self.configs.get(clinic_id, BookingConfig(clinic_id, DEFAULT_RULES))

    async def put(self, clinic_id: UUID, rules: BookingRules, *, at: datetime) -> BookingConfig:
        """Replace the clinic's rules."""
        config = BookingConfig(clinic_id, rules, utc(at))
        self.configs[clinic_id] = config
        return config


class MemoryHoldStore:
    """Holds in memory, reading the memory mirror; one event loop makes `place` atomic."""

    def __init__(self, mirror: MemoryScheduleMirror) -> None:
        self.mirror = mirror
        self.holds: dict[UUID, Hold] = {}

    def _live(self, clinic_id: UUID, start: datetime, end: datetime, now: datetime) -> list[Hold]:
        return [
            hold
            for hold in self.holds.values()
            if hold.clinic_id == clinic_id
            and hold.state(now) is HoldState.LIVE
            and overlaps(hold.busy_from, hold.busy_until, start, end)
        ]

    async def place(
        self,
        *,
        clinic_id: UUID,
        hold: NewHold,
        window: tuple[datetime, datetime],
        fits: Fits,
        now: datetime,
    ) -> Hold | None:
        """Store the hold on the first free column `fits` gives (see the port)."""
        now = utc(now)
        entries = await self.mirror.entries_between(
            clinic_id=clinic_id, start=window[0], end=window[1]
        )
        live = [h.held_time for h in self._live(clinic_id, *window, now)]
        for resource in fits(Schedule(entries=entries, holds=live)):
            taken = self._live(clinic_id, hold.busy_from, hold.busy_until, now)
            if any(other.resource_id == resource for other in taken):
                continue
            placed = Hold(
                uuid.uuid4(),
                clinic_id,
                resource,
                hold.start,
                hold.end,
                hold.busy_from,
                hold.busy_until,
                hold.expires_at,
                now,
                reference=hold.reference,
            )
            self.holds[placed.id] = placed
            return placed
        return None

    async def live_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime, now: datetime
    ) -> list[HeldTime]:
        """The time live holds keep over [start, end)."""
        return [hold.held_time for hold in self._live(clinic_id, start, end, utc(now))]

    async def get(self, *, clinic_id: UUID, hold_id: UUID) -> Hold | None:
        """A hold of the clinic, whatever its state."""
        hold = self.holds.get(hold_id)
        return hold if hold is not None and hold.clinic_id == clinic_id else None

    async def release(self, *, clinic_id: UUID, hold_id: UUID, now: datetime) -> Hold | None:
        """End the hold now if it is live; the hold as it then is."""
        hold = await self.get(clinic_id=clinic_id, hold_id=hold_id)
        if hold is not None and hold.state(utc(now)) is HoldState.LIVE:
            hold = replace(hold, released_at=utc(now))
            self.holds[hold_id] = hold
        return hold
