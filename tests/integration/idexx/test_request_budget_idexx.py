"""The daily PIMS request budget in a real IDEXX session (issue 20, item 3): counted per
request, refused past the allowance without sending, recorded when the session closes."""

from __future__ import annotations

import dataclasses
import uuid
from datetime import UTC

import pytest

from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.memory.request_usage import MemoryRequestLedger
from pims_sync.errors import PimsBudgetExhaustedError
from pims_sync.ports.request_budget import DailyBudget
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.idexx.harness import (
    SimulatorControl,
    clinic_login,
    idexx_options,
    today_window,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_a_session_stops_at_the_clinics_daily_budget(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    ledger, clinic_id = MemoryRequestLedger(), uuid.uuid4()
    now = sim.now()
    day = now.astimezone(UTC).date()
    await ledger.add(clinic_id, day, 17)  # earlier runs of the day
    meter = await DailyBudget(ledger, 20).meter(clinic_id, now)
    login = dataclasses.replace(clinic_login(clinic_id=clinic_id), meter=meter)
    provider = IdexxProvider(idexx_options(simulator.base_url))

    async def read_ten_times() -> None:
        async with provider.session(login) as session:
            for _ in range(10):
                await session.fetch_appointments(*today_window(now))

    try:
        with pytest.raises(PimsBudgetExhaustedError):
            await read_ten_times()
    finally:
        await provider.aclose()
    assert sim.requests("calendar") == 3  # the fourth was refused before it was sent
    assert await ledger.used(clinic_id, day) == 20
