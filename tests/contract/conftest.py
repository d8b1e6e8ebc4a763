"""The IDEXX arm of the provider contract: real Chromium against the simulator."""

from __future__ import annotations

from datetime import timedelta

import pytest

from pims_sync.adapters.idexx.provider import IdexxProvider
from tests.contract.test_provider_contract import ProviderWorld
from tests.integration.idexx.fixtures import provider, sim, simulator
from tests.integration.idexx.harness import SimulatorControl, clinic_login, today_window

__all__ = ["idexx_contract_world", "provider", "sim", "simulator"]


@pytest.fixture
def idexx_contract_world(provider: IdexxProvider, sim: SimulatorControl) -> ProviderWorld:
    start, end = today_window(sim.now())
    return ProviderWorld(
        provider=provider,
        login=clinic_login(),
        window=(start, end + timedelta(days=6)),
        consultation_id=sim.past_consultation_ids()[0],
        missing_consultation_id="1",
    )
