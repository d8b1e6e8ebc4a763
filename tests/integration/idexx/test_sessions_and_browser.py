"""Session reuse across runs, and the browser pool: on demand, cap, idle stop, crash relaunch."""

from __future__ import annotations

import asyncio
import contextlib
import time
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
    browser_pids,
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


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_the_browser_runs_only_while_logging_in(
    simulator: BackgroundSimulator, sim: SimulatorControl, cache: tuple[SqlSessionCache, uuid.UUID]
) -> None:
    session_cache, clinic_id = cache
    login = clinic_login(clinic_id=clinic_id)
    options = idexx_options(simulator.base_url, browser_idle_seconds=0.5)
    provider = IdexxProvider(options, session_cache=session_cache)
    before = browser_pids()
    try:
        assert not provider.pool.driver_running  # nothing starts before a login needs it
        async with provider.session(login) as cold:
            ours = browser_pids() - before
            await cold.fetch_appointments(*today_window(sim.now()))
        assert ours, "the login started no Chromium or driver process"
        await _until_stopped(provider)
        assert not _alive(ours)  # Chromium and node are gone
        for _ in range(200):  # warm runs: cached cookies over HTTP, never a browser
            async with provider.session(login) as warm:
                await warm.fetch_appointments(*today_window(sim.now()))
                assert warm.from_cache
                assert not browser_pids() - before
        assert not browser_pids() - before
        assert (provider.pool.launches, sim.logins()) == (1, 1)
    finally:
        await provider.aclose()


def _alive(pids: set[int]) -> list[str]:
    """Those of `pids` still running (a zombie awaiting its parent's wait() is not)."""
    alive = []
    for pid in pids:
        with contextlib.suppress(psutil.NoSuchProcess):
            process = psutil.Process(pid)
            if process.status() != psutil.STATUS_ZOMBIE:
                alive.append(f"{pid} {process.name()} {process.status()}")
    return alive


async def _until_stopped(provider: IdexxProvider, limit: float = 60.0) -> None:
    """Wait for the pool's idle watcher to stop the browser and the driver (bounded)."""
    deadline = time.monotonic() + limit
    while provider.pool.driver_running or provider.pool.browser_running:
        assert time.monotonic() < deadline, "the idle browser was not stopped"
        await asyncio.sleep(0.1)


async def test_logins_of_several_clinics_share_one_browser(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    provider = IdexxProvider(idexx_options(simulator.base_url, browser_idle_seconds=0.5))
    try:

        async def run() -> None:
            async with provider.session(clinic_login(clinic_id=uuid.uuid4())) as session:
                await session.fetch_appointments(*today_window(sim.now()))

        await asyncio.gather(*(run() for _ in range(3)))
        assert provider.pool.launches == 1  # one Chromium, a context per clinic
        assert sim.logins() == 3
        await _until_stopped(provider)
        assert provider.pool.open_contexts == 0
        await run()  # the next login starts them again
        assert provider.pool.launches == 2
    finally:
        await provider.aclose()


async def test_contexts_are_capped_and_idle_ones_closed(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    provider = IdexxProvider(
        idexx_options(simulator.base_url, max_contexts=1, browser_idle_seconds=0)
    )
    try:
        for _ in range(2):
            async with provider.session(clinic_login(clinic_id=uuid.uuid4())) as session:
                await session.fetch_appointments(*today_window(sim.now()))
                assert provider.pool.open_contexts <= 1
        assert provider.pool.open_contexts == 0  # idle past the limit: closed...
        assert not provider.pool.browser_running  # ...and the browser with them
        assert not provider.pool.driver_running  # ...and Playwright's driver
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
