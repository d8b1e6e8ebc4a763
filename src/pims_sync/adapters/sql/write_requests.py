"""WriteRequestStore on SQLite and Postgres: each change one statement, compare-and-set."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import Row, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import pims_write_requests as requests
from pims_sync.adapters.sql.upsert import insert_for
from pims_sync.domain.instants import utc
from pims_sync.domain.outbox import plain_json
from pims_sync.domain.write_requests import WriteRequest, WriteRoute, WriteState
from pims_sync.ports.write_requests import Claim

COLUMNS = (
    requests.c.clinic_id,
    requests.c.idempotency_key,
    requests.c.route,
    requests.c.body_hash,
    requests.c.state,
    requests.c.attempt,
    requests.c.created_at,
    requests.c.updated_at,
    requests.c.lease_until,
    requests.c.result,
)


def _request(row: Row[Any]) -> WriteRequest:
    return WriteRequest(
        clinic_id=row.clinic_id,
        key=row.idempotency_key,
        route=WriteRoute(row.route),
        body_hash=row.body_hash,
        state=WriteState(row.state),
        attempt=row.attempt,
        created_at=row.created_at,
        updated_at=row.updated_at,
        lease_until=row.lease_until,
        result=dict(row.result or {}),
    )


class SqlWriteRequestStore:
    """`pims_write_requests`: claimed by INSERT … ON CONFLICT DO NOTHING, moved by attempt."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def claim(
        self,
        *,
        clinic_id: UUID,
        key: str,
        route: WriteRoute,
        body_hash: str,
        now: datetime,
        lease: timedelta,
    ) -> Claim:
        """Insert the pending row unless the key has one; of two callers one inserts."""
        now = utc(now)
        statement = (
            insert_for(self._engine, requests)
            .values(
                id=uuid.uuid4(),
                clinic_id=clinic_id,
                idempotency_key=key,
                route=route.value,
                body_hash=body_hash,
                state=WriteState.PENDING.value,
                attempt=1,
                result={},
                lease_until=now + lease,
                created_at=now,
                updated_at=now,
            )
            .on_conflict_do_nothing(index_elements=["clinic_id", "idempotency_key"])
            .returning(*COLUMNS)
        )
        async with storage_failures("claim a write request"), self._engine.begin() as conn:
            inserted = (await conn.execute(statement)).first()
            if inserted is not None:
                return Claim(_request(inserted), claimed=True)
            stored = (await conn.execute(self._select(clinic_id, key))).one()
        return Claim(_request(stored), claimed=False)

    async def take_over(
        self, seen: WriteRequest, *, now: datetime, lease: timedelta
    ) -> WriteRequest | None:
        """Pending under the next attempt, only if the row is still at `seen.attempt`."""
        now = utc(now)
        values = {
            "state": WriteState.PENDING.value,
            "attempt": seen.attempt + 1,
            "lease_until": now + lease,
            "updated_at": now,
        }
        return await self._move(seen, values, "take over a write request")

    async def save(
        self,
        held: WriteRequest,
        *,
        state: WriteState,
        result: Mapping[str, Any],
        now: datetime,
    ) -> WriteRequest | None:
        """Progress or outcome, only if the row is still at `held.attempt`."""
        values: dict[str, Any] = {
            "state": state.value,
            "result": plain_json(result),
            "updated_at": utc(now),
        }
        if state is not WriteState.PENDING:
            values["lease_until"] = None
        return await self._move(held, values, "save a write request")

    async def get(self, *, clinic_id: UUID, key: str) -> WriteRequest | None:
        """The clinic's request with this key, if any."""
        async with storage_failures("read a write request"), self._engine.connect() as conn:
            row = (await conn.execute(self._select(clinic_id, key))).first()
        return None if row is None else _request(row)

    async def _move(
        self, seen: WriteRequest, values: Mapping[str, Any], action: str
    ) -> WriteRequest | None:
        statement = (
            update(requests)
            .where(
                scoped(requests, seen.clinic_id),
                requests.c.idempotency_key == seen.key,
                requests.c.attempt == seen.attempt,
            )
            .values(**values)
            .returning(*COLUMNS)
        )
        async with storage_failures(action), self._engine.begin() as conn:
            row = (await conn.execute(statement)).first()
        return None if row is None else _request(row)

    @staticmethod
    def _select(clinic_id: UUID, key: str) -> Any:
        return select(*COLUMNS).where(
            scoped(requests, clinic_id), requests.c.idempotency_key == key
        )
