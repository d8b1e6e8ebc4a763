"""The outbox on SQLite and Postgres: events appended inside the transaction of their change.

`append_events` numbers a clinic's events with one upsert on `sync_event_sequences`
(whose row stays locked until commit, so a clinic's events commit in `seq` order and a
reader polling `afterSeq` never skips one that commits late), then inserts them in one
statement. Call it last in a transaction, just before the commit: the sequence row is
then locked for the shortest time, and always after every other lock the transaction
takes (no lock-order deadlock with case writes or audit rows).

It is on the path of every case batch, so it does little in Python: the events travel
as ONE JSON parameter (`[[type, subject, payload], …]`, one C-speed `json.dumps`), the
database gives the ids (the column's default) and the seqs (from the sequence row), and
nothing is read back (`SqlEventLog.append`, which returns the events, asks for the ids).
On Postgres a last write of the transaction can ride in the same statement (`Alongside`,
a CTE): the case store sends the batch's patient rows with its events, one round trip.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    Insert,
    Text,
    bindparam,
    cast,
    column,
    func,
    literal_column,
    select,
    text,
    true,
)
from sqlalchemy.dialects import postgresql
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import Uuid

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import sync_event_sequences as sequences
from pims_sync.adapters.sql.tables import sync_events as events_table
from pims_sync.adapters.sql.types import UtcDateTime
from pims_sync.domain.instants import utc
from pims_sync.domain.outbox import EventType, NewEvent, StoredEvent, check_limit

CLINIC = bindparam("clinic", type_=Uuid())
COUNT = bindparam("count", type_=BigInteger())
AT = bindparam("at", type_=UtcDateTime())
EVENT_COLUMNS = ("clinic_id", "seq", "type", "subject_id", "payload", "created_at")


def _postgres_append() -> Insert:
    """The numbers taken and the events inserted in ONE statement (one round trip).

    The sequence upsert is a CTE (its row lock lasts to commit); `:events` is the batch,
    numbered from 1 by WITH ORDINALITY.
    """
    take = postgresql.insert(sequences).values(clinic_id=CLINIC, last_seq=COUNT)
    taken = (
        take.on_conflict_do_update(
            index_elements=[sequences.c.clinic_id],
            set_={"last_seq": sequences.c.last_seq + take.excluded.last_seq},
        )
        .returning(sequences.c.last_seq)
        .cte("taken")
    )
    batch = cast(bindparam("events", type_=Text()), JSONB)
    rows = (
        func.jsonb_array_elements(batch)
        .table_valued(column("event", JSONB), with_ordinality="n")
        .render_derived()
    )
    field: list[Any] = [literal_column(str(index)) for index in range(3)]  # type, subject, payload
    text_of, json_of = rows.c.event.op("->>"), rows.c.event.op("->", return_type=JSONB)
    numbered = select(
        CLINIC,
        taken.c.last_seq - COUNT + rows.c.n,
        text_of(field[0]),
        text_of(field[1]),
        json_of(field[2]),
        AT,
    ).select_from(taken.join(rows, true()))
    return postgresql.insert(events_table).from_select(EVENT_COLUMNS, numbered)


POSTGRES_APPEND = _postgres_append()
POSTGRES_APPEND_RETURNING = POSTGRES_APPEND.returning(events_table.c.id, events_table.c.seq)
# SQLite (in-process, no round trip to save): the numbers taken first, then the events
# (`:first` is the batch's first seq; `json_each` numbers the elements from 0).
SQLITE_TAKE = text(
    """
    INSERT INTO sync_event_sequences (clinic_id, last_seq) VALUES (:clinic, :count)
    ON CONFLICT (clinic_id) DO UPDATE
        SET last_seq = sync_event_sequences.last_seq + excluded.last_seq
    RETURNING last_seq
    """
).bindparams(CLINIC)
SQLITE_APPEND = text(
    """
    INSERT INTO sync_events (clinic_id, seq, type, subject_id, payload, created_at)
    SELECT :clinic, :first + key, json_extract(value, '$[0]'), json_extract(value, '$[1]'),
           json_extract(value, '$[2]'), :at
    FROM json_each(:events)
    """
).bindparams(CLINIC, AT)
SQLITE_APPEND_RETURNING = (
    text(str(SQLITE_APPEND) + " RETURNING id, seq")
    .bindparams(CLINIC, AT)
    .columns(column("id", Uuid()), column("seq", BigInteger()))
)


@dataclass(frozen=True, slots=True)
class Alongside:
    """A Postgres write (an `INSERT`) of the transaction, sent in the events' statement."""

    write: Insert
    values: dict[str, Any]


@functools.lru_cache(maxsize=32)  # a few long-lived statements: built once each
def _with_write(write: Insert) -> Insert:
    """The Postgres append with the write as a CTE: both in one round trip."""
    return POSTGRES_APPEND.add_cte(write.cte("alongside"))


def _batch(events: Sequence[NewEvent]) -> str:
    """The events as one JSON array; TypeError for a payload that is not plain JSON (a bug)."""
    rows = [[event.type, event.subject_id, dict(event.payload)] for event in events]
    return json.dumps(rows, ensure_ascii=False)


async def _append(
    conn: AsyncConnection,
    clinic_id: UUID,
    events: Sequence[NewEvent],
    at: datetime,
    *,
    alongside: Alongside | None = None,
    returning: bool = False,
) -> list[Any]:
    """Number and insert the events; their (id, seq) rows when `returning` (not alongside)."""
    # Before any SQL: a payload that is not plain JSON is refused on both databases.
    values: dict[str, Any] = {"clinic": clinic_id, "count": len(events), "events": _batch(events)}
    values["at"] = utc(at)
    if conn.dialect.name == "postgresql":
        statement = POSTGRES_APPEND_RETURNING if returning else POSTGRES_APPEND
        if alongside is not None:
            statement, values = _with_write(alongside.write), values | alongside.values
        result = await conn.execute(statement, values)
        return list(result) if returning else []
    if alongside is not None:
        raise ValueError("a write alongside the events is for Postgres only")
    last = (await conn.execute(SQLITE_TAKE, values)).scalar_one()
    values["first"] = int(last) - len(events) + 1
    result = await conn.execute(SQLITE_APPEND_RETURNING if returning else SQLITE_APPEND, values)
    return list(result) if returning else []


async def append_events(
    conn: AsyncConnection,
    *,
    clinic_id: UUID,
    events: Sequence[NewEvent],
    at: datetime,
    alongside: Alongside | None = None,
) -> None:
    """Append these events in the caller's transaction (the caller commits).

    `alongside` (Postgres): a write of the same transaction sent in the same statement.
    """
    if events:
        await _append(conn, clinic_id, events, at, alongside=alongside)
    elif alongside is not None:
        await conn.execute(alongside.write, alongside.values)


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
            numbered = await _append(conn, clinic_id, events, at, returning=True)
        seqs = {int(row.seq): row.id for row in numbered}
        first = min(seqs)
        return [
            StoredEvent(
                id=seqs[first + offset],
                clinic_id=clinic_id,
                seq=first + offset,
                type=EventType(event.type),
                subject_id=event.subject_id,
                payload=dict(event.payload),
                created_at=utc(at),
            )
            for offset, event in enumerate(events)
        ]

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
