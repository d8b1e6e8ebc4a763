"""The IDEXX arm of the provider contract: real Chromium against the simulator."""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import count
from zoneinfo import ZoneInfo

import pytest

from pims_sync.adapters.idexx.provider import IdexxProvider
from tests.contract.test_provider_contract import ProviderWorld
from tests.contract.test_provider_write_contract import WriteWorld
from tests.integration.idexx.fixtures import provider, sim, simulator
from tests.integration.idexx.harness import SimulatorControl, clinic_login, today_window

__all__ = ["idexx_contract_world", "idexx_write_world", "provider", "sim", "simulator"]
# Each write case books on a day of its own, far enough ahead to touch no other test.
_FREE_DAYS = count(90)
# The port's write names → the simulator's fault endpoints.
_SIM_ENDPOINTS = {"create": "create", "cancel": "delete"}


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


@pytest.fixture
def idexx_write_world(provider: IdexxProvider, sim: SimulatorControl) -> WriteWorld:
    """IDEXX through real Chromium and HTTP; one cleared day, a patient of yesterday's."""
    login = clinic_login()
    zone = ZoneInfo(login.timezone)
    today = sim.now().date()
    day = today + timedelta(days=next(_FREE_DAYS))
    sim.clear_day(day.isoformat())
    yesterday = (today - timedelta(days=1)).isoformat()
    seen = next(e for e in sim.events(yesterday, yesterday) if e.get("patient_id"))
    patient_id, room_id = str(seen["patient_id"]), str(seen["resourceId"])

    def occupy(start: datetime, end: datetime, room: str) -> None:
        wall = "%Y-%m-%d %H:%M:%S"
        sim.add_appointment(
            start=start.astimezone(zone).strftime(wall),
            end=end.astimezone(zone).strftime(wall),
            patientId=int(patient_id),
            roomId=int(room),
        )

    def lose_next_answer(operation: str) -> None:
        sim.fault(endpoint=_SIM_ENDPOINTS[operation], afterApply="drop", count=1)

    return WriteWorld(
        provider=provider,
        login=login,
        query=f"{seen['patient_name']} {seen['last_name']}",
        patient_id=patient_id,
        room_id=room_id,
        free_day=datetime(day.year, day.month, day.day, tzinfo=zone),
        occupy=occupy,
        lose_next_answer=lose_next_answer,
    )
