"""Issue 20, item 7: a cached session is never reused after the base URL or login changed."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.session_cache import SqlSessionCache
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.idexx.harness import (
    SimulatorControl,
    clinic_login,
    idexx_options,
    today_window,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


@pytest.fixture
def elsewhere() -> Iterator[tuple[BackgroundSimulator, SimulatorControl]]:
    """A second PIMS (the new base URL the clinic's credentials now point to)."""
    with BackgroundSimulator() as running:
        control = SimulatorControl(running.base_url)
        yield running, control
        control.close()


@pytest_asyncio.fixture(loop_scope="session")
async def cache(migrated_database_url: str) -> AsyncIterator[tuple[SqlSessionCache, uuid.UUID]]:
    engine = create_async_db_engine(migrated_database_url)
    clinic = await SqlClinicStore(engine).add(name="Moved Clinic")
    yield SqlSessionCache(engine, "k" * 40), clinic.id
    await engine.dispose()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_new_base_url_logs_in_there_instead_of_sending_the_old_cookie(
    simulator: BackgroundSimulator,
    sim: SimulatorControl,
    elsewhere: tuple[BackgroundSimulator, SimulatorControl],
    cache: tuple[SqlSessionCache, uuid.UUID],
) -> None:
    other, other_sim = elsewhere
    session_cache, clinic_id = cache
    login = clinic_login(clinic_id=clinic_id)
    provider = IdexxProvider(idexx_options(simulator.base_url), session_cache=session_cache)
    try:
        async with provider.session(login) as first:
            await first.fetch_appointments(*today_window(sim.now()))
        assert sim.logins() == 1
        # The clinic's credentials now name another PIMS (same username, same company).
        credentials = dataclasses.replace(login.credentials, base_url=other.base_url)
        moved = dataclasses.replace(login, credentials=credentials)
        async with provider.session(moved) as second:
            await second.fetch_appointments(*today_window(other_sim.now()))
        assert not second.from_cache
        assert other_sim.logins() == 1
        # One calendar call, with the new login's cookie: the old one never went there.
        assert other_sim.requests("calendar") == 1
    finally:
        await provider.aclose()
