"""CaseStore on SQLite and Postgres: a batch and its events in a fixed number of round trips."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, TypeVar
from uuid import UUID

from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync.adapters.sql.batch_upsert import BatchUpsert
from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.outbox import Alongside, append_events
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import cases, patients
from pims_sync.domain.change_events import case_events
from pims_sync.domain.outbox import NewEvent
from pims_sync.ports.store import CasePlan, CaseWrite, PatientRow, StoredCase

# Bound parameters one SELECT may carry: psycopg's protocol limit is 65535; SQLite's is
# 32766 since 3.32 and 999 before. Reads of bigger batches are split (writes: BatchUpsert).
POSTGRES_MAX_PARAMS = 65535
SQLITE_MAX_PARAMS = 32766 if sqlite3.sqlite_version_info >= (3, 32, 0) else 999

CASE_COLUMNS = ("source", "status", "type", "scheduled_at", "metadata", "updated_at")
PATIENT_COLUMNS = ("name", "species", "breed", "owner_name", "owner_phone", "owner_email")


def _stored(row: Any) -> StoredCase:
    return StoredCase(
        id=row.id,
        clinic_id=row.clinic_id,
        external_id=row.external_id,
        source=row.source,
        status=row.status,
        type=row.type,
        scheduled_at=row.scheduled_at,
        metadata=row.metadata,
        updated_at=row.updated_at,
    )


def _chunks(items: Sequence[Any], size: int) -> Iterator[Sequence[Any]]:
    for start in range(0, len(items), max(size, 1)):
        yield items[start : start + size]


def _case_values(clinic_id: UUID, write: CaseWrite, now: datetime) -> dict[str, Any]:
    return {
        "id": write.id,
        "clinic_id": clinic_id,
        "external_id": write.external_id,
        "source": write.source,
        "status": write.status,
        "type": write.type,
        "scheduled_at": write.scheduled_at,
        "metadata": dict(write.metadata),
        "updated_at": now,
    }


def _patient_values(
    clinic_id: UUID, case_id: UUID, patient: PatientRow, now: datetime
) -> dict[str, Any]:
    values: dict[str, Any] = {name: getattr(patient, name) for name in PATIENT_COLUMNS}
    return {"id": uuid.uuid4(), "case_id": case_id, "clinic_id": clinic_id, "updated_at": now} | (
        values
    )


# FOR UPDATE cannot lock a case that does not exist yet: two batches creating the same
# case would both see it absent and the second would overwrite the first's metadata.
# A transaction-scoped advisory lock per (clinic, external id) covers new cases too;
# taken in one sorted order by every batch, so two batches never deadlock.
LOCK_EXTERNAL_IDS = text(
    "SELECT count(pg_advisory_xact_lock(hashtextextended(CAST(:clinic AS text) || '/' || x, 0)))"
    " FROM unnest(CAST(:ids AS text[])) AS t(x)"
)


async def _lock_external_ids(
    conn: AsyncConnection, clinic_id: UUID, external_ids: Sequence[str]
) -> None:
    """Hold the batch's advisory locks until the transaction ends (Postgres)."""
    ids = sorted(set(external_ids))
    if ids:
        await conn.execute(LOCK_EXTERNAL_IDS, {"clinic": str(clinic_id), "ids": ids})


T = TypeVar("T")
U = TypeVar("U")


def _events(
    stored: Mapping[str, StoredCase], writes: Sequence[CaseWrite]
) -> tuple[list[NewEvent], dict[str, UUID]]:
    """The batch's events if each case keeps its stored id (new ones: the write's); the ids."""
    ids = {w.external_id: s.id if (s := stored.get(w.external_id)) else w.id for w in writes}
    after = [w if w.id == ids[w.external_id] else replace(w, id=ids[w.external_id]) for w in writes]
    return case_events(stored, after), ids


async def _alongside(statement: Awaitable[T], work: Callable[[], U]) -> tuple[T, U]:
    """Run `statement`, and `work` (Python) while the database executes it.

    The statement is sent first (its task runs up to waiting for the answer), then `work`
    runs; whatever happens, the statement has finished before this returns or raises, so
    the connection is never left busy.
    """
    task = asyncio.ensure_future(statement)
    try:
        await asyncio.sleep(0)
        done = work()
    finally:
        result = await task
    return result, done


class SqlCaseStore:
    """Cases and patient rows; `apply` is one transaction with row locks and batch upserts."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._sqlite = engine.dialect.name == "sqlite"
        self._max_params = SQLITE_MAX_PARAMS if self._sqlite else POSTGRES_MAX_PARAMS
        self._case_upsert = BatchUpsert(
            engine,
            cases,
            columns=("id", "clinic_id", "external_id", *CASE_COLUMNS),
            conflict=("clinic_id", "external_id"),
            returning=("id", "external_id"),
        )
        self._patient_upsert = BatchUpsert(
            engine,
            patients,
            columns=("id", "case_id", "clinic_id", *PATIENT_COLUMNS, "updated_at"),
            conflict=("case_id",),
            returning=("id",),
        )

    async def cases_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime, source_prefix: str = "pims:"
    ) -> list[StoredCase]:
        """Cases whose `scheduled_at` is in [start, end) and `source` starts with the prefix."""
        query = (
            select(cases)
            .where(scoped(cases, clinic_id))
            .where(cases.c.scheduled_at >= start, cases.c.scheduled_at < end)
            .where(cases.c.source.startswith(source_prefix, autoescape=True))
            .order_by(cases.c.scheduled_at, cases.c.external_id)
        )
        async with storage_failures("read cases"), self._engine.connect() as conn:
            return [_stored(row) for row in await conn.execute(query)]

    async def get_many(
        self, *, clinic_id: UUID, external_ids: Sequence[str]
    ) -> dict[str, StoredCase]:
        """The stored cases among these external ids, by external id."""
        async with storage_failures("read cases"), self._engine.connect() as conn:
            return await self._read(conn, clinic_id, external_ids, lock=False)

    async def apply(
        self, *, clinic_id: UUID, external_ids: Sequence[str], plan: CasePlan
    ) -> list[CaseWrite]:
        """One atomic batch: lock and read these cases, write what `plan` returns, return it."""
        async with storage_failures("write cases"), self._engine.connect() as conn:
            if self._sqlite:
                # Take SQLite's write lock before reading: another writer waits (busy_timeout)
                # instead of interleaving its read-modify-write with ours.
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                await _lock_external_ids(conn, clinic_id, external_ids)
            stored = await self._read(conn, clinic_id, external_ids, lock=True)
            # Duplicate external ids in one statement would be an error on Postgres
            # ("cannot affect row a second time"); the last write wins, as in memory.
            writes = list({w.external_id: w for w in plan(stored)}.values())
            now = datetime.now(UTC)
            # The events are derived while the database runs the upsert, with the ids the
            # cases will have (the stored one, kept by the upsert; else the write's), and
            # derived again in the rare batch where the upsert says otherwise.
            upsert = self._upsert_cases(conn, clinic_id, writes, now)
            ids, (events, expected) = await _alongside(upsert, lambda: _events(stored, writes))
            written = [replace(w, id=ids[w.external_id]) for w in writes]
            if ids != expected:
                events = case_events(stored, written)
            # Last, in the same transaction: an event exists iff its change is committed.
            await self._write_patients_and_events(conn, clinic_id, written, events, now)
            await conn.commit()
        return written

    async def patient_of(self, *, clinic_id: UUID, external_id: str) -> PatientRow | None:
        """The patient row of a case (for tests)."""
        query = (
            select(*(patients.c[name] for name in PATIENT_COLUMNS))
            .join(cases, cases.c.id == patients.c.case_id)
            .where(scoped(cases, clinic_id), scoped(patients, clinic_id))
            .where(cases.c.external_id == external_id)
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else PatientRow(**row._asdict())

    async def _read(
        self, conn: AsyncConnection, clinic_id: UUID, external_ids: Sequence[str], *, lock: bool
    ) -> dict[str, StoredCase]:
        found: dict[str, StoredCase] = {}
        for chunk in _chunks(list(dict.fromkeys(external_ids)), self._max_params - 1):
            query = select(cases).where(scoped(cases, clinic_id), cases.c.external_id.in_(chunk))
            # FOR UPDATE on Postgres; SQLite ignores it (BEGIN IMMEDIATE locks instead).
            rows = await conn.execute(query.with_for_update() if lock else query)
            found.update((row.external_id, _stored(row)) for row in rows)
        return found

    async def _upsert_cases(
        self, conn: AsyncConnection, clinic_id: UUID, writes: Sequence[CaseWrite], now: datetime
    ) -> dict[str, UUID]:
        """Upsert every case of the batch in one statement; their stored ids."""
        rows = [_case_values(clinic_id, write, now) for write in writes]
        # The stored id wins on conflict: patients must point at it.
        return {row.external_id: row.id for row in await self._case_upsert.run(conn, rows)}

    async def _write_patients_and_events(
        self,
        conn: AsyncConnection,
        clinic_id: UUID,
        written: Sequence[CaseWrite],
        events: Sequence[NewEvent],
        now: datetime,
    ) -> None:
        """Upsert the batch's patient rows, then append its events (Postgres: one statement)."""
        rows = [
            _patient_values(clinic_id, w.id, w.patient, now)
            for w in written
            if w.patient is not None
        ]
        if self._sqlite or not events or not rows:
            await self._patient_upsert.run(conn, rows)
            await append_events(conn, clinic_id=clinic_id, events=events, at=now)
            return
        patients = Alongside(
            self._patient_upsert.statement, self._patient_upsert.postgres_values(rows)
        )
        await append_events(conn, clinic_id=clinic_id, events=events, at=now, alongside=patients)
