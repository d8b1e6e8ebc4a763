"""`pims_request_usage`: each clinic's PIMS requests and logins per UTC day, for every process."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.tables import pims_request_usage as usage
from pims_sync.adapters.sql.upsert import insert_for


class SqlRequestLedger:
    """The RequestLedger and LoginLedger ports on SQLite and Postgres; a short transaction each."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def used(self, clinic_id: UUID, day: date) -> int:
        """The clinic's requests recorded for that day (0 when none)."""
        query = select(usage.c.requests).where(usage.c.clinic_id == clinic_id, usage.c.day == day)
        async with storage_failures("read PIMS request usage"), self._engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return int(found or 0)

    async def add(self, clinic_id: UUID, day: date, requests: int) -> None:
        """Add to the day's count in one upsert: concurrent processes never lose a request."""
        now = datetime.now(UTC)
        statement = insert_for(self._engine, usage).values(
            id=uuid.uuid4(), clinic_id=clinic_id, day=day, requests=requests, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[usage.c.clinic_id, usage.c.day],
            set_={"requests": usage.c.requests + statement.excluded.requests, "updated_at": now},
        )
        async with storage_failures("count PIMS requests"), self._engine.begin() as conn:
            await conn.execute(statement)

    async def take_login(self, clinic_id: UUID, day: date, limit: int) -> bool:
        """Count one login in one conditional upsert: the row is left alone at `limit`.

        The condition is checked under the row's lock, so processes logging in at once
        never count past the limit between them.
        """
        if limit <= 0:
            return False
        now = datetime.now(UTC)
        statement = insert_for(self._engine, usage).values(
            id=uuid.uuid4(), clinic_id=clinic_id, day=day, logins=1, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[usage.c.clinic_id, usage.c.day],
            set_={"logins": usage.c.logins + 1, "updated_at": now},
            where=usage.c.logins < limit,
        ).returning(usage.c.logins)
        async with storage_failures("count a PIMS login"), self._engine.begin() as conn:
            return (await conn.execute(statement)).first() is not None

    async def logins(self, clinic_id: UUID, day: date) -> int:
        """The clinic's logins counted for that day (0 when none)."""
        query = select(usage.c.logins).where(usage.c.clinic_id == clinic_id, usage.c.day == day)
        async with storage_failures("read PIMS logins"), self._engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return int(found or 0)
