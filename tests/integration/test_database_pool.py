"""One bounded connection pool per process: DATABASE_POOL_SIZE, whatever the load."""

from __future__ import annotations

import asyncio
import uuid

import psycopg
import pytest
from sqlalchemy import text

from pims_sync.adapters.sql.engine import create_async_db_engine, pool_options
from pims_sync.bootstrap import build_services
from pims_sync.settings import Settings


def _tagged(url: str, name: str) -> str:
    """The URL with an application_name, so pg_stat_activity tells our connections apart."""
    return f"{url}{'&' if '?' in url else '?'}application_name={name}"


@pytest.mark.asyncio
async def test_fifty_concurrent_queries_use_at_most_the_pool_size_on_postgres(
    postgres_url: str,
) -> None:
    name = f"pool-{uuid.uuid4().hex[:12]}"
    engine = create_async_db_engine(_tagged(postgres_url, name), pool_size=3)
    peak = 0
    done = asyncio.Event()

    async def watch() -> None:
        nonlocal peak
        async with await psycopg.AsyncConnection.connect(postgres_url) as conn:
            while not done.is_set():
                row = await (
                    await conn.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s",
                        (name,),
                    )
                ).fetchone()
                peak = max(peak, int(row[0]) if row else 0)
                await asyncio.sleep(0.01)

    async def query() -> int:
        async with engine.connect() as conn:
            return int((await conn.execute(text("SELECT 1 FROM pg_sleep(0.05)"))).scalar_one())

    watcher = asyncio.create_task(watch())
    try:
        answers = await asyncio.gather(*(query() for _ in range(50)))
    finally:
        done.set()
        await watcher
        await engine.dispose()
    assert answers == [1] * 50  # every caller was served, waiting for a free connection
    assert 1 <= peak <= 3


@pytest.mark.asyncio
async def test_a_sqlite_file_pool_is_bounded_too(sqlite_url: str) -> None:
    engine = create_async_db_engine(sqlite_url, pool_size=2)
    held = []
    try:
        for _ in range(2):
            held.append(await engine.connect())
        with pytest.raises(TimeoutError):  # a third waits for one of the two, never opens one
            await asyncio.wait_for(engine.connect(), 0.5)
    finally:
        for conn in held:
            await conn.close()
        await engine.dispose()


def test_in_memory_sqlite_takes_no_pool_options() -> None:
    assert pool_options("sqlite+aiosqlite:///:memory:", 5) == {}
    assert pool_options("postgresql://h/db", 5)["max_overflow"] == 0


@pytest.mark.asyncio
async def test_the_service_engine_takes_database_pool_size(sqlite_url: str) -> None:
    services = build_services(Settings(database_url=sqlite_url, database_pool_size=4))
    try:
        assert services.engine.pool.size() == 4  # type: ignore[attr-defined]
    finally:
        await services.engine.dispose()
