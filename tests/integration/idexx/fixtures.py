"""Shared fixtures: one simulator thread and one IDEXX provider (one Chromium) per session."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest
import pytest_asyncio

from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.idexx.harness import SimulatorControl, idexx_options


@pytest.fixture(scope="session")
def simulator() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator() as running:
        yield running


@pytest.fixture
def sim(simulator: BackgroundSimulator) -> Iterator[SimulatorControl]:
    control = SimulatorControl(simulator.base_url)
    control.clean()
    yield control
    control.clean()
    control.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def provider(simulator: BackgroundSimulator) -> AsyncIterator[IdexxProvider]:
    shared = IdexxProvider(idexx_options(simulator.base_url))
    yield shared
    await shared.aclose()
