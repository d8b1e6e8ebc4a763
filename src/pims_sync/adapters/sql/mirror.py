"""ScheduleMirror on SQLite and Postgres: one fetch, one transaction, a few statements."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, bindparam, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync.adapters.sql.batch_upsert import BatchUpsert
from pims_sync.adapters.sql.cases import POSTGRES_MAX_PARAMS, SQLITE_MAX_PARAMS
from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import pims_appointments as events
from pims_sync.adapters.sql.tables import pims_calendar_days as days_read
from pims_sync.adapters.sql.types import UtcDateTime
from pims_sync.domain.appointments import MAX_STAY
from pims_sync.domain.mirror import (
    EntryKey,
    EntryKind,
    EntryWrite,
    MirrorEntry,
    MirrorListing,
    MirrorPlan,
    StoredEntry,
    plan_mirror,
)

CONTENT = (
    "starts_at",
    "ends_at",
    "resource_id",
    "room_name",
    "provider_name",
    "appointment_type",
    "status",
    "patient_name",
    "client_name",
)
COLUMNS = (
    "id",
    "clinic_id",
    "external_id",
    "kind",
    *CONTENT,
    "sync_hash",
    "last_synced_at",
    "deleted_at",
    "updated_at",
)
# A clinic's mirror writes one at a time (a run is one per clinic anyway): Postgres.
LOCK_CLINIC = text("SELECT pg_advisory_xact_lock(hashtextextended('mirror/' || :clinic, 0))")
# The GiST-indexed range of the Postgres table (adapters/sql/ranges.py).
SPAN_OVERLAPS = text("span && tstzrange(:span_start, :span_end, '[)')").bindparams(
    bindparam("span_start", type_=UtcDateTime()), bindparam("span_end", type_=UtcDateTime())
)


def _entry(row: Any) -> MirrorEntry:
    """A row starting (external_id, kind, *CONTENT): CONTENT is in MirrorEntry's order."""
    return MirrorEntry(row[0], EntryKind(row[1]), *row[2 : 2 + len(CONTENT)])


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]


def _values(clinic_id: UUID, write: EntryWrite, now: datetime) -> dict[str, Any]:
    entry = write.entry
    return {
        "id": uuid.uuid4(),
        "clinic_id": clinic_id,
        "external_id": entry.external_id,
        "kind": entry.kind.value,
        **{name: getattr(entry, name) for name in CONTENT},
        "sync_hash": entry.sync_hash,
        "last_synced_at": now,
        "deleted_at": write.deleted_at,
        "updated_at": now,
    }


def in_window(start: datetime, end: datetime) -> ColumnElement[bool]:
    """Entries overlapping [start, end); the lower bound keeps the (clinic, start) range short.

    No event lasts longer than MAX_STAY (the parser refuses longer ones).
    """
    return and_(
        events.c.starts_at < end,
        events.c.ends_at > start,
        events.c.starts_at >= start - MAX_STAY,
    )


async def live_entries(
    conn: AsyncConnection, clinic_id: UUID, start: datetime, end: datetime
) -> list[MirrorEntry]:
    """The live entries overlapping [start, end), by start (also read by the holds store).

    Postgres reads them through the GiST-indexed `span`; SQLite through (clinic, start).
    """
    postgres = conn.dialect.name == "postgresql"
    query = (
        select(events.c.external_id, events.c.kind, *(events.c[name] for name in CONTENT))
        .where(scoped(events, clinic_id), events.c.deleted_at.is_(None))
        .where(SPAN_OVERLAPS if postgres else in_window(start, end))
        .order_by(events.c.starts_at, events.c.external_id)
    )
    params = {"span_start": start, "span_end": end} if postgres else {}
    return [_entry(row) for row in await conn.execute(query, params)]


class SqlScheduleMirror:
    """The mirror in `pims_appointments`, the days read in `pims_calendar_days`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"
        self._max_params = POSTGRES_MAX_PARAMS if self._postgres else SQLITE_MAX_PARAMS
        self._upsert = BatchUpsert(
            engine,
            events,
            columns=COLUMNS,
            conflict=("clinic_id", "external_id", "kind"),
            returning=("id",),
        )
        self._days = BatchUpsert(
            engine,
            days_read,
            columns=("id", "clinic_id", "day", "synced_at"),
            conflict=("clinic_id", "day"),
            returning=("id",),
        )

    async def record(
        self,
        *,
        clinic_id: UUID,
        listing: MirrorListing,
        days: Sequence[date],
        now: datetime,
        force: bool = False,
    ) -> MirrorPlan:
        """Read, plan and write one fetch in one transaction (see the port)."""
        async with storage_failures("write the schedule mirror"), self._engine.connect() as conn:
            if self._postgres:
                await conn.execute(LOCK_CLINIC, {"clinic": str(clinic_id)})
            else:
                # SQLite's write lock first: no other writer between our read and our writes.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            stored = await self._stored(conn, clinic_id, listing)
            plan = plan_mirror(stored, listing, now=now, force=force)
            await self._upsert.run(conn, [_values(clinic_id, w, now) for w in plan.writes])
            await self._mark_removed(conn, clinic_id, plan.removals, now)
            await conn.execute(
                update(events)
                .where(scoped(events, clinic_id), in_window(listing.start, listing.end))
                .values(last_synced_at=now)
            )
            rows = [
                {"id": uuid.uuid4(), "clinic_id": clinic_id, "day": d, "synced_at": now}
                for d in days
            ]
            await self._days.run(conn, rows)
            await conn.commit()
        return plan

    async def entries_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime
    ) -> list[MirrorEntry]:
        """The live entries overlapping [start, end), by start."""
        async with storage_failures("read the schedule mirror"), self._engine.connect() as conn:
            return await live_entries(conn, clinic_id, start, end)

    async def resource_ids(self, *, clinic_id: UUID, since: datetime) -> list[str]:
        """The calendar columns of the entries that start at or after `since`, sorted."""
        query = (
            select(events.c.resource_id)
            .distinct()
            .where(scoped(events, clinic_id), events.c.starts_at >= since)
            .where(events.c.resource_id.is_not(None))
        )
        async with storage_failures("read the schedule mirror"), self._engine.connect() as conn:
            return sorted(str(row.resource_id) for row in await conn.execute(query))

    async def synced_days(
        self, *, clinic_id: UUID, first: date, last: date
    ) -> dict[date, datetime]:
        """When each day of [first, last] was last read (never read: absent)."""
        query = select(days_read.c.day, days_read.c.synced_at).where(
            scoped(days_read, clinic_id), days_read.c.day >= first, days_read.c.day <= last
        )
        async with storage_failures("read the schedule mirror"), self._engine.connect() as conn:
            return {row.day: row.synced_at for row in await conn.execute(query)}

    async def _stored(
        self, conn: AsyncConnection, clinic_id: UUID, listing: MirrorListing
    ) -> list[StoredEntry]:
        """The window's stored entries, and those of the listed keys wherever they are."""
        columns = (events.c.external_id, events.c.kind, *(events.c[name] for name in CONTENT))
        base = select(*columns, events.c.sync_hash, events.c.deleted_at).where(
            scoped(events, clinic_id)
        )
        found: dict[EntryKey, StoredEntry] = {}

        def keep(rows: Any) -> None:
            for row in rows:
                stored = StoredEntry(_entry(row), row.sync_hash, row.deleted_at)
                found[stored.entry.key] = stored

        keep(await conn.execute(base.where(in_window(listing.start, listing.end))))
        keys = [(key, kind.value) for key, kind in listing.ordered_keys()]
        for chunk in _chunks(keys, self._max_params // 2 - 1):
            keep(
                await conn.execute(
                    base.where(tuple_(events.c.external_id, events.c.kind).in_(chunk))
                )
            )
        return list(found.values())

    async def _mark_removed(
        self, conn: AsyncConnection, clinic_id: UUID, keys: Sequence[EntryKey], now: datetime
    ) -> None:
        pairs = [(key, kind.value) for key, kind in keys]
        for chunk in _chunks(pairs, self._max_params // 2 - 1):
            await conn.execute(
                update(events)
                .where(scoped(events, clinic_id), events.c.deleted_at.is_(None))
                .where(tuple_(events.c.external_id, events.c.kind).in_(chunk))
                .values(deleted_at=now, updated_at=now)
            )
