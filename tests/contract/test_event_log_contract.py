"""EventLog contract: memory, SQLite and Postgres number and read events the same."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.outbox import SqlEventLog, append_events
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.ports.events import EventLog
from tests.contract.store_backends import MEMORY, database_url

__all__ = ["database_url"]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Outbox:
    """The log under test, and how to make clinics for it."""

    log: EventLog
    engine: AsyncEngine | None
    url: str

    async def clinic(self) -> UUID:
        """A new clinic (a row on SQL: the outbox's foreign keys need it)."""
        if self.engine is None:
            return uuid.uuid4()
        return (await SqlClinicStore(self.engine).add(name="Happy Paws")).id

    def sql(self) -> AsyncEngine:
        """The engine; skips the test on the memory log."""
        if self.engine is None:
            pytest.skip("transactions and concurrent processes are the SQL log's")
        return self.engine


@pytest.fixture
async def outbox(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Outbox]:
    """A log of each kind, on an empty (migrated) database."""
    if database_url == MEMORY:
        yield Outbox(MemoryEventLog(), None, MEMORY)
        return
    url = str(request.getfixturevalue("migrated_database_url"))
    engine = create_async_db_engine(url)
    try:
        yield Outbox(SqlEventLog(engine), engine, url)
    finally:
        await engine.dispose()


def created(case: str) -> NewEvent:
    return NewEvent(EventType.CASE_CREATED, case, {"caseId": case, "changedFields": ["status"]})


async def test_seq_starts_at_one_and_increases_by_one(outbox: Outbox) -> None:
    clinic = await outbox.clinic()
    assert await outbox.log.last_seq(clinic_id=clinic) == 0
    assert await outbox.log.after(clinic_id=clinic, after_seq=0, limit=10) == []

    first = await outbox.log.append(clinic_id=clinic, events=[created("a"), created("b")], at=T0)
    second = await outbox.log.append(clinic_id=clinic, events=[created("c")], at=T0)

    assert [e.seq for e in first + second] == [1, 2, 3]
    assert await outbox.log.last_seq(clinic_id=clinic) == 3
    read = await outbox.log.after(clinic_id=clinic, after_seq=0, limit=10)
    assert read == first + second
    assert read[0].type is EventType.CASE_CREATED
    assert read[0].subject_id == "a"
    assert read[0].payload == {"caseId": "a", "changedFields": ["status"]}
    assert read[0].clinic_id == clinic
    assert read[0].created_at == T0
    assert len({e.id for e in read}) == 3


async def test_an_empty_append_takes_no_seq(outbox: Outbox) -> None:
    clinic = await outbox.clinic()
    assert await outbox.log.append(clinic_id=clinic, events=[], at=T0) == []
    assert await outbox.log.last_seq(clinic_id=clinic) == 0
    stored = await outbox.log.append(clinic_id=clinic, events=[created("a")], at=T0)
    assert stored[0].seq == 1


async def test_each_clinic_has_its_own_seq_and_sees_only_its_events(outbox: Outbox) -> None:
    alpha, bravo = await outbox.clinic(), await outbox.clinic()
    await outbox.log.append(clinic_id=alpha, events=[created("a1"), created("a2")], at=T0)
    bravos = await outbox.log.append(clinic_id=bravo, events=[created("b1")], at=T0)
    await outbox.log.append(clinic_id=alpha, events=[created("a3")], at=T0)

    assert [e.seq for e in bravos] == [1]
    alphas = await outbox.log.after(clinic_id=alpha, after_seq=0, limit=10)
    assert [(e.seq, e.subject_id) for e in alphas] == [(1, "a1"), (2, "a2"), (3, "a3")]
    assert [
        e.subject_id for e in await outbox.log.after(clinic_id=bravo, after_seq=0, limit=10)
    ] == ["b1"]
    assert await outbox.log.last_seq(clinic_id=bravo) == 1
    assert await outbox.log.after(clinic_id=uuid.uuid4(), after_seq=0, limit=10) == []


async def test_after_pages_in_seq_order(outbox: Outbox) -> None:
    clinic = await outbox.clinic()
    await outbox.log.append(clinic_id=clinic, events=[created(str(n)) for n in range(1, 8)], at=T0)

    page = await outbox.log.after(clinic_id=clinic, after_seq=2, limit=3)
    assert [e.seq for e in page] == [3, 4, 5]
    assert [e.subject_id for e in page] == ["3", "4", "5"]
    rest = await outbox.log.after(clinic_id=clinic, after_seq=page[-1].seq, limit=100)
    assert [e.seq for e in rest] == [6, 7]
    assert await outbox.log.after(clinic_id=clinic, after_seq=7, limit=100) == []
    assert await outbox.log.after(clinic_id=clinic, after_seq=99, limit=100) == []


async def test_a_page_of_no_events_is_refused(outbox: Outbox) -> None:
    clinic = await outbox.clinic()
    with pytest.raises(ValueError, match="at least one event"):
        await outbox.log.after(clinic_id=clinic, after_seq=0, limit=0)


async def test_a_payload_that_is_not_json_appends_nothing(outbox: Outbox) -> None:
    clinic = await outbox.clinic()
    bad = NewEvent(EventType.CASE_UPDATED, "a", {"at": T0})
    with pytest.raises(TypeError):
        await outbox.log.append(clinic_id=clinic, events=[created("a"), bad], at=T0)
    assert await outbox.log.after(clinic_id=clinic, after_seq=0, limit=10) == []
    assert await outbox.log.last_seq(clinic_id=clinic) == 0


async def test_events_of_a_rolled_back_transaction_leave_no_trace(outbox: Outbox) -> None:
    engine = outbox.sql()
    clinic = await outbox.clinic()
    async with engine.connect() as conn:
        await append_events(conn, clinic_id=clinic, events=[created("a")], at=T0)
        await conn.rollback()
    assert await outbox.log.last_seq(clinic_id=clinic) == 0
    stored = await outbox.log.append(clinic_id=clinic, events=[created("b")], at=T0)
    assert [(e.seq, e.subject_id) for e in stored] == [(1, "b")]


async def test_a_second_writer_waits_for_the_first_to_commit(outbox: Outbox) -> None:
    # The sequence row stays locked to commit: seq 2 cannot commit before seq 1, so a
    # reader that has seen seq 2 never misses seq 1 afterwards.
    engine = outbox.sql()
    clinic = await outbox.clinic()
    other = create_async_db_engine(outbox.url)
    try:
        async with engine.connect() as conn:
            await conn.begin()
            await append_events(conn, clinic_id=clinic, events=[created("first")], at=T0)
            second = asyncio.create_task(
                SqlEventLog(other).append(clinic_id=clinic, events=[created("second")], at=T0)
            )
            await asyncio.sleep(0.5)
            assert not second.done()
            assert await outbox.log.after(clinic_id=clinic, after_seq=0, limit=10) == []
            await conn.commit()
        stored = await asyncio.wait_for(second, 10)
    finally:
        await other.dispose()
    assert [e.seq for e in stored] == [2]
    read = await outbox.log.after(clinic_id=clinic, after_seq=0, limit=10)
    assert [(e.seq, e.subject_id) for e in read] == [(1, "first"), (2, "second")]


async def test_processes_appending_at_once_get_every_seq_once(outbox: Outbox) -> None:
    outbox.sql()
    clinic = await outbox.clinic()
    # Separate engines stand for separate processes sharing the database.
    engines = [create_async_db_engine(outbox.url) for _ in range(4)]
    try:
        logs = [SqlEventLog(engine) for engine in engines]
        batches = await asyncio.gather(
            *(
                log.append(clinic_id=clinic, events=[created(f"{n}.{i}") for i in range(3)], at=T0)
                for n, log in enumerate(logs * 5)
            )
        )
    finally:
        for engine in engines:
            await engine.dispose()
    for batch in batches:
        seqs = [e.seq for e in batch]
        assert seqs == list(range(seqs[0], seqs[0] + 3))
    read = await outbox.log.after(clinic_id=clinic, after_seq=0, limit=1000)
    assert [e.seq for e in read] == list(range(1, 61))
    assert sorted(e.id for e in read) == sorted(e.id for batch in batches for e in batch)
