"""Session reuse across runs, and the browser pool: cap, idle close, relaunch after a crash."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator

import psutil
import pytest
import pytest_asyncio

from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.session_cache import SqlSessionCache
from pims_sync.domain.credentials import session_binding
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.idexx.harness import (
    SimulatorControl,
    chromium_pids,
    clinic_login,
    idexx_options,
    today_window,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest_asyncio.fixture(loop_scope="session")
async def cache(
    migrated_database_url: str,
) -> AsyncIterator[tuple[SqlSessionCache, uuid.UUID]]:
    engine = create_async_db_engine(migrated_database_url)
    clinic = await SqlClinicStore(engine).add(name="Cached Clinic")
    yield SqlSessionCache(engine, "k" * 40), clinic.id
    await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_second_run_in_the_idle_window_does_not_log_in(
    simulator: BackgroundSimulator, sim: SimulatorControl, cache: tuple[SqlSessionCache, uuid.UUID]
) -> None:
    session_cache, clinic_id = cache
    login = clinic_login(clinic_id=clinic_id)
    provider = IdexxProvider(idexx_options(simulator.base_url), session_cache=session_cache)
    try:
        async with provider.session(login) as first:
            await first.fetch_appointments(*today_window(sim.now()))
        launches = provider.pool.launches
        async with provider.session(login) as second:
            page = await second.fetch_appointments(*today_window(sim.now()))
        assert second.from_cache
        assert len(page) > 0
        assert sim.logins() == 1  # the second run reused the cached session
        assert provider.pool.launches == launches  # ...and needed no browser at all

        sim.expire_sessions()  # the PIMS forgot it: the third run notices and logs in once
        async with provider.session(login) as third:
            await third.fetch_appointments(*today_window(sim.now()))
        assert sim.logins() == 2
        binding = session_binding(simulator.base_url, login.credentials)
        assert await session_cache.load(clinic_id, binding) is not None
    finally:
        await provider.aclose()


async def test_contexts_are_capped_and_idle_ones_closed(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    provider = IdexxProvider(
        idexx_options(simulator.base_url, max_contexts=1, context_idle_seconds=0)
    )
    try:
        for _ in range(2):
            async with provider.session(clinic_login(clinic_id=uuid.uuid4())) as session:
                await session.fetch_appointments(*today_window(sim.now()))
                assert provider.pool.open_contexts <= 1
        assert provider.pool.open_contexts == 0  # idle past the limit: closed...
        assert not provider.pool.browser_running  # ...and the browser with them
        assert sim.logins() == 2
    finally:
        await provider.aclose()


async def test_a_crashed_browser_is_relaunched(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    provider = IdexxProvider(idexx_options(simulator.base_url))
    before = chromium_pids()
    try:
        async with provider.session(clinic_login()):
            pass
        for pid in chromium_pids() - before:  # only the browser this test launched
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()
        async with provider.session(clinic_login()) as session:
            await session.fetch_appointments(*today_window(sim.now()))
        assert provider.pool.launches == 2
        assert sim.logins() == 2
    finally:
        await provider.aclose()
