"""One contract for the session cache: in memory and in SQL (SQLite and Postgres)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
import pytest_asyncio
from sqlalchemy import select

from pims_sync.adapters.memory.session_cache import InMemorySessionCache
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.session_cache import SqlSessionCache
from pims_sync.adapters.sql.tables import pims_session_cache
from pims_sync.ports.session_cache import SessionCache

KEY = "k" * 40
COOKIES = '[{"name": "neo_session", "value": "secret-token"}]'


@dataclass
class Clock:
    now: datetime = datetime(2026, 1, 22, 12, 0, tzinfo=UTC)

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@dataclass
class CacheWorld:
    cache: SessionCache
    clock: Clock
    clinic_id: UUID


class SessionCacheContract:
    """What every SessionCache must do."""

    async def test_saved_cookies_come_back(self, world: CacheWorld) -> None:
        assert await world.cache.load(world.clinic_id) is None
        await world.cache.save(world.clinic_id, COOKIES)
        assert await world.cache.load(world.clinic_id) == COOKIES

    async def test_idle_expiry_after_20_minutes_unless_touched(self, world: CacheWorld) -> None:
        await world.cache.save(world.clinic_id, COOKIES)
        world.clock.advance(minutes=15)
        await world.cache.touch(world.clinic_id, COOKIES.replace("secret", "renewed"))
        world.clock.advance(minutes=15)
        assert await world.cache.load(world.clinic_id) == COOKIES.replace("secret", "renewed")
        world.clock.advance(minutes=21)
        assert await world.cache.load(world.clinic_id) is None
        assert await world.cache.load(world.clinic_id) is None  # and it stays gone

    async def test_absolute_expiry_after_8_hours_even_when_used(self, world: CacheWorld) -> None:
        await world.cache.save(world.clinic_id, COOKIES)
        for _ in range(33):
            world.clock.advance(minutes=15)
            await world.cache.touch(world.clinic_id)
        assert await world.cache.load(world.clinic_id) is None

    async def test_forget_drops_the_session(self, world: CacheWorld) -> None:
        await world.cache.save(world.clinic_id, COOKIES)
        await world.cache.forget(world.clinic_id)
        assert await world.cache.load(world.clinic_id) is None


class TestInMemory(SessionCacheContract):
    @pytest.fixture
    def world(self) -> CacheWorld:
        clock = Clock()
        return CacheWorld(
            InMemorySessionCache(clock=lambda: clock.now.timestamp()), clock, UUID(int=1)
        )


class TestSql(SessionCacheContract):
    @pytest_asyncio.fixture
    async def world(self, migrated_database_url: str) -> AsyncIterator[CacheWorld]:
        clock = Clock()
        engine = create_async_db_engine(migrated_database_url)
        clinic = await SqlClinicStore(engine).add(name="Cache Clinic")
        yield CacheWorld(SqlSessionCache(engine, KEY, clock=lambda: clock.now), clock, clinic.id)
        await engine.dispose()


async def test_sql_rows_are_encrypted_and_a_wrong_key_means_no_session(
    migrated_database_url: str,
) -> None:
    engine = create_async_db_engine(migrated_database_url)
    clinic = await SqlClinicStore(engine).add(name="Cache Clinic")
    await SqlSessionCache(engine, KEY).save(clinic.id, COOKIES)
    async with engine.connect() as conn:
        stored = (await conn.execute(select(pims_session_cache.c.encrypted_cookies))).scalar_one()
    assert "secret-token" not in stored
    assert await SqlSessionCache(engine, "z" * 40).load(clinic.id) is None
    assert await SqlSessionCache(engine, KEY).load(clinic.id) is None  # the bad row was dropped
    await engine.dispose()
