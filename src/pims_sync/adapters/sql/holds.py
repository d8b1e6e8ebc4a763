"""HoldStore on SQLite and Postgres: the same decision, two ways of making it exclusive.

Postgres: the exclusion constraint `ex_availability_holds_live_overlap` (adapters/sql/
ranges.py) refuses a second unreleased hold overlapping one of the same column, whoever
inserts it: each candidate column is tried in a savepoint, and a refusal moves on to the
next. SQLite: `BEGIN IMMEDIATE` takes the write lock before reading, so the read, the
decision, the same overlap check the constraint makes, and the insert are one step no
other writer can enter.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.mirror import live_entries
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import availability_holds as holds
from pims_sync.domain.availability import HeldTime, Schedule
from pims_sync.domain.holds import Hold, NewHold
from pims_sync.ports.holds import Fits

# No hold is longer than a visit (8 h) with its buffers (2 h each way): the lower bound
# that keeps a read of the (clinic, start) index short.
LONGEST_HOLD = timedelta(hours=12)
EXCLUSION_VIOLATION = "23P01"


def _hold(row: Any) -> Hold:
    return Hold(
        id=row.id,
        clinic_id=row.clinic_id,
        resource_id=row.resource_id,
        start=row.starts_at,
        end=row.ends_at,
        busy_from=row.busy_from,
        busy_until=row.busy_until,
        expires_at=row.expires_at,
        created_at=row.created_at,
        released_at=row.released_at,
        reference=row.reference,
    )


def _overlapping(start: datetime, end: datetime) -> Any:
    return and_(
        holds.c.busy_from < end,
        holds.c.busy_until > start,
        holds.c.starts_at >= start - LONGEST_HOLD,
    )


def _live(now: datetime) -> Any:
    return and_(holds.c.released_at.is_(None), holds.c.expires_at > now)


async def _live_holds(
    conn: AsyncConnection, clinic_id: UUID, start: datetime, end: datetime, now: datetime
) -> list[HeldTime]:
    query = select(holds.c.resource_id, holds.c.busy_from, holds.c.busy_until).where(
        scoped(holds, clinic_id), _live(now), _overlapping(start, end)
    )
    return [HeldTime(*row) for row in await conn.execute(query)]


class SqlHoldStore:
    """`availability_holds`, read and written beside the mirror's `pims_appointments`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._postgres = engine.dialect.name == "postgresql"

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
        async with storage_failures("write holds"), self._engine.connect() as conn:
            if not self._postgres:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            schedule = Schedule(
                entries=await live_entries(conn, clinic_id, *window),
                holds=await _live_holds(conn, clinic_id, *window, now),
            )
            for resource in fits(schedule):
                placed = await self._try(conn, clinic_id, resource, hold, now)
                if placed is not None:
                    await conn.commit()
                    return placed
            await conn.rollback()
        return None

    async def _try(
        self, conn: AsyncConnection, clinic_id: UUID, resource: str, hold: NewHold, now: datetime
    ) -> Hold | None:
        """Insert on one column: mark the expired holds in the way ended, then insert."""
        if not self._postgres and await self._taken(conn, clinic_id, resource, hold, now):
            return None  # SQLite's own check: no constraint there, but the write lock is ours
        try:
            async with conn.begin_nested():
                await conn.execute(
                    update(holds)
                    .where(scoped(holds, clinic_id), holds.c.resource_id == resource)
                    .where(holds.c.released_at.is_(None), holds.c.expires_at <= now)
                    .where(_overlapping(hold.busy_from, hold.busy_until))
                    .values(released_at=holds.c.expires_at)
                )
                row = (await conn.execute(self._insert(clinic_id, resource, hold, now))).one()
        except IntegrityError as error:
            if getattr(error.orig, "sqlstate", None) != EXCLUSION_VIOLATION:
                raise
            return None  # another live hold of this column overlaps: committed first
        return _hold(row)

    @staticmethod
    async def _taken(
        conn: AsyncConnection, clinic_id: UUID, resource: str, hold: NewHold, now: datetime
    ) -> bool:
        """Whether a live hold of the column overlaps (what the Postgres constraint refuses)."""
        query = (
            select(holds.c.id)
            .where(scoped(holds, clinic_id), holds.c.resource_id == resource, _live(now))
            .where(_overlapping(hold.busy_from, hold.busy_until))
            .limit(1)
        )
        return (await conn.execute(query)).first() is not None

    @staticmethod
    def _insert(clinic_id: UUID, resource: str, hold: NewHold, now: datetime) -> Any:
        return (
            insert(holds)
            .values(
                id=uuid.uuid4(),
                clinic_id=clinic_id,
                resource_id=resource,
                starts_at=hold.start,
                ends_at=hold.end,
                busy_from=hold.busy_from,
                busy_until=hold.busy_until,
                expires_at=hold.expires_at,
                reference=hold.reference,
                created_at=now,
            )
            .returning(*holds.c)
        )

    async def live_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime, now: datetime
    ) -> list[HeldTime]:
        """The time live holds keep over [start, end)."""
        async with storage_failures("read holds"), self._engine.connect() as conn:
            return await _live_holds(conn, clinic_id, start, end, now)

    async def get(self, *, clinic_id: UUID, hold_id: UUID) -> Hold | None:
        """A hold of the clinic, whatever its state."""
        query = select(holds).where(scoped(holds, clinic_id), holds.c.id == hold_id)
        async with storage_failures("read holds"), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _hold(row)

    async def release(self, *, clinic_id: UUID, hold_id: UUID, now: datetime) -> Hold | None:
        """End the hold now if it is live; the hold as it then is."""
        statement = (
            update(holds)
            .where(scoped(holds, clinic_id), holds.c.id == hold_id, _live(now))
            .values(released_at=now)
        )
        async with storage_failures("write holds"), self._engine.begin() as conn:
            await conn.execute(statement)
            row = (
                await conn.execute(
                    select(holds).where(scoped(holds, clinic_id), holds.c.id == hold_id)
                )
            ).first()
        return None if row is None else _hold(row)
