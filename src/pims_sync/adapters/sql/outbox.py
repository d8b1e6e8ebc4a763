"""The outbox on SQLite and Postgres: events appended inside the transaction of their change.

`append_events` numbers a clinic's events with one upsert on `sync_event_sequences`
(whose row stays locked until commit, so a clinic's events commit in `seq` order and a
reader polling `afterSeq` never skips one that commits late), then inserts them in one
statement. Call it last in a transaction, just before the commit: the sequence row is
then locked for the shortest time, and always after every other lock the transaction
takes (no lock-order deadlock with case writes or audit rows).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import sync_event_sequences as sequences
from pims_sync.adapters.sql.tables import sync_events as events_table
from pims_sync.adapters.sql.upsert import insert_for_dialect
from pims_sync.domain.instants import utc
from pims_sync.domain.outbox import EventType, NewEvent, StoredEvent, check_limit


async def _take_seqs(conn: AsyncConnection, clinic_id: UUID, count: int) -> int:
    """Reserve `count` seqs for the clinic; the last one (its row is locked to commit)."""
    statement = insert_for_dialect(conn.dialect.name, sequences).values(
        id=uuid.uuid4(), clinic_id=clinic_id, last_seq=count
    )
    statement = statement.on_conflict_do_update(
        index_elements=[sequences.c.clinic_id],
        set_={"last_seq": sequences.c.last_seq + statement.excluded.last_seq},
    ).returning(sequences.c.last_seq)
    return int((await conn.execute(statement)).scalar_one())


# Postgres: the numbers taken and the events inserted in ONE statement (one round trip):
# the sequence upsert is a CTE whose row lock lasts to commit, the events one jsonb batch.
POSTGRES_APPEND = text(
    """
    WITH taken AS (
        INSERT INTO sync_event_sequences (id, clinic_id, last_seq)
        VALUES (CAST(:sequence_id AS uuid), CAST(:clinic AS uuid), :count)
        ON CONFLICT (clinic_id) DO UPDATE
            SET last_seq = sync_event_sequences.last_seq + excluded.last_seq
        RETURNING last_seq
    ), appended AS (
        INSERT INTO sync_events (id, clinic_id, seq, type, subject_id, payload, created_at)
        SELECT r.id, CAST(:clinic AS uuid), taken.last_seq - :count + r.n, r.type,
               r.subject_id, r.payload, :at
        FROM taken, jsonb_to_recordset(CAST(:rows AS jsonb))
            AS r(n bigint, id uuid, type text, subject_id text, payload jsonb)
    )
    SELECT last_seq FROM taken
    """
)


@dataclass(frozen=True, slots=True)
class _Pending:
    """An event about to be inserted: its id and payload fixed, its seq not yet."""

    id: UUID
    type: EventType
    subject_id: str | None
    payload: dict[str, Any]


async def _append_postgres(
    conn: AsyncConnection, clinic_id: UUID, pending: list[_Pending], at: datetime
) -> int:
    """One statement; the clinic's last seq after it."""
    rows = [
        {
            "n": n,
            "id": str(event.id),
            "type": event.type.value,
            "subject_id": event.subject_id,
            "payload": event.payload,
        }
        for n, event in enumerate(pending, start=1)
    ]
    values = {
        "sequence_id": str(uuid.uuid4()),
        "clinic": str(clinic_id),
        "count": len(pending),
        "rows": json.dumps(rows, ensure_ascii=False),
        "at": at,
    }
    return int((await conn.execute(POSTGRES_APPEND, values)).scalar_one())


async def _append_sqlite(
    conn: AsyncConnection, clinic_id: UUID, pending: list[_Pending], at: datetime
) -> int:
    """Two statements (in-process: no round trips to save); the clinic's last seq after."""
    last = await _take_seqs(conn, clinic_id, len(pending))
    first = last - len(pending) + 1
    rows = [
        {
            "id": event.id,
            "clinic_id": clinic_id,
            "seq": first + offset,
            "type": event.type.value,
            "subject_id": event.subject_id,
            "payload": event.payload,
            "created_at": at,
        }
        for offset, event in enumerate(pending)
    ]
    # One executemany of one prepared statement.
    await conn.execute(events_table.insert(), rows)
    return last


async def append_events(
    conn: AsyncConnection, *, clinic_id: UUID, events: Sequence[NewEvent], at: datetime
) -> list[StoredEvent]:
    """Append these events in the caller's transaction (the caller commits); numbered."""
    if not events:
        return []
    at = utc(at)
    pending = [
        _Pending(uuid.uuid4(), EventType(e.type), e.subject_id, dict(e.payload)) for e in events
    ]
    if conn.dialect.name != "postgresql":
        # Before any SQL: a payload that is not plain JSON is a bug, refused (TypeError)
        # on both databases (Postgres's batch is dumped the same way, before it is sent).
        json.dumps([event.payload for event in pending])
    append = _append_postgres if conn.dialect.name == "postgresql" else _append_sqlite
    last = await append(conn, clinic_id, pending, at)
    first = last - len(pending) + 1
    return [
        StoredEvent(
            id=event.id,
            clinic_id=clinic_id,
            seq=first + offset,
            type=event.type,
            subject_id=event.subject_id,
            payload=event.payload,
            created_at=at,
        )
        for offset, event in enumerate(pending)
    ]


def _event(row: Any) -> StoredEvent:
    return StoredEvent(
        id=row.id,
        clinic_id=row.clinic_id,
        seq=int(row.seq),
        type=EventType(row.type),
        subject_id=row.subject_id,
        payload=row.payload,
        created_at=row.created_at,
    )


class SqlEventLog:
    """The EventLog port on SQLite and Postgres."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def append(
        self, *, clinic_id: UUID, events: Sequence[NewEvent], at: datetime
    ) -> list[StoredEvent]:
        """Commit these events in their own transaction and return them numbered."""
        if not events:
            return []
        async with storage_failures("append events"), self._engine.begin() as conn:
            return await append_events(conn, clinic_id=clinic_id, events=events, at=at)

    async def after(self, *, clinic_id: UUID, after_seq: int, limit: int) -> list[StoredEvent]:
        """Up to `limit` events with `seq` > `after_seq`, in `seq` order."""
        check_limit(limit)
        query = (
            select(events_table)
            .where(scoped(events_table, clinic_id), events_table.c.seq > after_seq)
            .order_by(events_table.c.seq)
            .limit(limit)
        )
        async with storage_failures("read events"), self._engine.connect() as conn:
            return [_event(row) for row in await conn.execute(query)]

    async def last_seq(self, *, clinic_id: UUID) -> int:
        """The clinic's highest `seq` so far (0 before its first event)."""
        query = select(sequences.c.last_seq).where(scoped(sequences, clinic_id))
        async with storage_failures("read events"), self._engine.connect() as conn:
            found = (await conn.execute(query)).scalar_one_or_none()
        return int(found or 0)
