"""One contract for the request and login ledger: in memory and in SQL (SQLite and Postgres)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date
from uuid import UUID

import pytest_asyncio

from pims_sync.adapters.memory.request_usage import MemoryRequestLedger
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.request_usage import SqlRequestLedger
from pims_sync.ports.request_budget import RequestLedger

DAY = date(2026, 6, 1)


class RequestLedgerContract:
    """What every RequestLedger must do."""

    async def test_counts_add_up_per_clinic_and_day(
        self, ledger: RequestLedger, clinics: tuple[UUID, UUID]
    ) -> None:
        alpha, bravo = clinics
        assert await ledger.used(alpha, DAY) == 0
        await ledger.add(alpha, DAY, 50)
        await ledger.add(alpha, DAY, 7)
        await ledger.add(bravo, DAY, 3)
        await ledger.add(alpha, date(2026, 6, 2), 11)
        assert await ledger.used(alpha, DAY) == 57
        assert await ledger.used(bravo, DAY) == 3
        assert await ledger.used(alpha, date(2026, 6, 2)) == 11

    async def test_logins_are_counted_up_to_the_limit(
        self, ledger: SqlRequestLedger | MemoryRequestLedger, clinics: tuple[UUID, UUID]
    ) -> None:
        alpha, bravo = clinics
        taken = [await ledger.take_login(alpha, DAY, 3) for _ in range(5)]
        assert taken == [True, True, True, False, False]
        assert await ledger.logins(alpha, DAY) == 3
        assert await ledger.take_login(bravo, DAY, 3)  # per clinic
        assert await ledger.take_login(alpha, date(2026, 6, 2), 3)  # per day
        assert await ledger.take_login(alpha, DAY, 4)  # a higher limit allows one more
        assert not await ledger.take_login(bravo, DAY, 0)  # 0: none at all
        assert await ledger.logins(bravo, DAY) == 1
        assert await ledger.used(alpha, DAY) == 0  # requests are counted apart


class TestInMemory(RequestLedgerContract):
    @pytest_asyncio.fixture
    async def ledger(self) -> MemoryRequestLedger:
        return MemoryRequestLedger()

    @pytest_asyncio.fixture
    async def clinics(self) -> tuple[UUID, UUID]:
        return UUID(int=1), UUID(int=2)


class TestSql(RequestLedgerContract):
    @pytest_asyncio.fixture
    async def world(
        self, migrated_database_url: str
    ) -> AsyncIterator[tuple[SqlRequestLedger, tuple[UUID, UUID], str]]:
        engine = create_async_db_engine(migrated_database_url)
        store = SqlClinicStore(engine)
        clinics = (await store.add(name="Alpha")).id, (await store.add(name="Bravo")).id
        yield SqlRequestLedger(engine), clinics, migrated_database_url
        await engine.dispose()

    @pytest_asyncio.fixture
    async def ledger(
        self, world: tuple[SqlRequestLedger, tuple[UUID, UUID], str]
    ) -> SqlRequestLedger:
        return world[0]

    @pytest_asyncio.fixture
    async def clinics(
        self, world: tuple[SqlRequestLedger, tuple[UUID, UUID], str]
    ) -> tuple[UUID, UUID]:
        return world[1]

    async def test_processes_adding_at_once_lose_nothing(
        self, world: tuple[SqlRequestLedger, tuple[UUID, UUID], str]
    ) -> None:
        _, (alpha, _), url = world
        # Separate engines stand for separate processes sharing the database.
        engines = [create_async_db_engine(url) for _ in range(4)]
        try:
            ledgers = [SqlRequestLedger(engine) for engine in engines]
            await asyncio.gather(*(ledger.add(alpha, DAY, 5) for ledger in ledgers * 5))
            assert await ledgers[0].used(alpha, DAY) == 100
        finally:
            for engine in engines:
                await engine.dispose()

    async def test_processes_logging_in_at_once_never_pass_the_budget(
        self, world: tuple[SqlRequestLedger, tuple[UUID, UUID], str]
    ) -> None:
        _, (alpha, _), url = world
        engines = [create_async_db_engine(url) for _ in range(4)]
        try:
            ledgers = [SqlRequestLedger(engine) for engine in engines]
            taken = await asyncio.gather(
                *(ledger.take_login(alpha, DAY, 12) for ledger in ledgers * 5)
            )
            assert sum(taken) == 12
            assert await ledgers[0].logins(alpha, DAY) == 12
        finally:
            for engine in engines:
                await engine.dispose()
