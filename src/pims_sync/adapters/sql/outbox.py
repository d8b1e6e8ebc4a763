"""The outbox on SQLite and Postgres: events appended inside the transaction of their change.

`append_events` numbers a clinic's events with one upsert on `sync_event_sequences`
(whose row stays locked until commit, so a clinic's events commit in `seq` order and a
reader polling `afterSeq` never skips one that commits late), then inserts them in one
statement. Call it last in a transaction, just before the commit: the sequence row is
then locked for the shortest time, and always after every other lock the transaction
takes (no lock-order deadlock with case writes or audit rows).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync.adapters.sql.batch_upsert import BatchInsert
from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import sync_event_sequences as sequences
from pims_sync.adapters.sql.tables import sync_events as events_table
from pims_sync.adapters.sql.upsert import insert_for_dialect
from pims_sync.domain.instants import utc
from pims_sync.domain.outbox import EventType, NewEvent, StoredEvent, check_limit, plain_json

EVENT_COLUMNS = ("id", "clinic_id", "seq", "type", "subject_id", "payload", "created_at")

# One prepared insert per dialect (a process talks to one database, tests to both).
_INSERTS: dict[str, BatchInsert] = {}


def _insert_for(dialect: str) -> BatchInsert:
    if dialect not in _INSERTS:
        _INSERTS[dialect] = BatchInsert(dialect, events_table, columns=EVENT_COLUMNS)
    return _INSERTS[dialect]


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


async def append_events(
    conn: AsyncConnection, *, clinic_id: UUID, events: Sequence[NewEvent], at: datetime
) -> list[StoredEvent]:
    """Append these events in the caller's transaction (the caller commits); numbered."""
    if not events:
        return []
    at = utc(at)
    # Before any SQL: a payload that is not plain JSON is a bug, refused on both databases.
    payloads = [plain_json(event.payload) for event in events]
    last = await _take_seqs(conn, clinic_id, len(events))
    first = last - len(events) + 1
    stored = [
        StoredEvent(
            id=uuid.uuid4(),
            clinic_id=clinic_id,
            seq=first + offset,
            type=EventType(event.type),
            subject_id=event.subject_id,
            payload=payload,
            created_at=at,
        )
        for offset, (event, payload) in enumerate(zip(events, payloads, strict=True))
    ]
    rows = [{name: getattr(event, name) for name in EVENT_COLUMNS} for event in stored]
    for row in rows:
        row["type"] = str(row["type"])
    await _insert_for(conn.dialect.name).run(conn, rows)
    return stored


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
