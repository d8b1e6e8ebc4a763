"""What a clinic key can do to the scheduler through the real app (issue 20, items 2 and 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from tests.integration.api.conftest import client_for, insert_key

URL = "/api/scheduler/schedules"
# A valid cron of 60 kB: one minute listed 30 000 times (the attack stored 566 kB).
HUGE_CRON = ",".join(["0"] * 30_000) + " 6 * * *"


@pytest.fixture
async def http(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(create_app(services.settings, services)) as client:
        yield client


async def _stored(services: Services, clinic: Clinic) -> list[object]:
    config = await services.schedules.get(clinic.id)
    assert config is not None
    return list(config.entries)


async def test_a_clinic_key_cannot_store_a_huge_or_list_heavy_cron(
    services: Services, clinic: Clinic, http: httpx.AsyncClient
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    headers = {"X-API-Key": key}
    huge = await http.patch(URL, json={"type": "full", "cron": HUGE_CRON}, headers=headers)
    assert huge.status_code == 400, huge.text[:300]
    assert huge.json()["error"] == "cron is longer than 100 characters"
    listed = ",".join(str(m) for m in range(0, 60, 2))  # 30 items in 80 characters
    heavy = await http.patch(
        URL, json={"type": "full", "cron": f"{listed} 6 * * *"}, headers=headers
    )
    assert heavy.status_code == 400
    assert "lists more than 24 items" in heavy.json()["error"]
    assert await _stored(services, clinic) == []


async def test_a_clinic_key_cannot_schedule_a_sync_every_second_or_minute(
    services: Services, clinic: Clinic, http: httpx.AsyncClient
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    headers = {"X-API-Key": key}
    every_second = await http.patch(
        URL, json={"type": "full", "cron": "* * * * * *"}, headers=headers
    )
    assert every_second.status_code == 400
    assert "seconds field" in every_second.json()["error"]
    every_minute = await http.patch(
        URL, json={"type": "full", "cron": "* * * * *"}, headers=headers
    )
    assert every_minute.status_code == 400
    assert "fires 60 s apart" in every_minute.json()["error"]
    assert await _stored(services, clinic) == []
    every_5 = await http.patch(URL, json={"type": "full", "cron": "*/5 * * * *"}, headers=headers)
    assert every_5.status_code == 200, every_5.text
    assert every_5.json()["job"]["cron"] == "*/5 * * * *"


async def test_a_service_key_may_use_seconds_within_the_minimum(
    services: Services, clinic: Clinic, http: httpx.AsyncClient
) -> None:
    _, key = await insert_key(services, clinic_id=None)
    headers = {"X-API-Key": key}
    body = {"clinicId": str(clinic.id), "type": "inbound"}
    fast = await http.patch(URL, json={**body, "cron": "*/30 * * * * *"}, headers=headers)
    assert fast.status_code == 400
    assert "fires 30 s apart" in fast.json()["error"]
    ok = await http.patch(URL, json={**body, "cron": "15 */5 * * * *"}, headers=headers)
    assert ok.status_code == 200, ok.text


async def test_status_reports_a_stored_too_fast_schedule_as_invalid(
    services: Services, clinic: Clinic, http: httpx.AsyncClient
) -> None:
    # Stored before the limits (or straight into the table): listed as invalid, never run.
    await services.schedules.put(clinic.id, [{"type": "full", "cron": "* * * * * *"}])
    _, key = await insert_key(services, clinic_id=clinic.id)
    status = (await http.get("/api/scheduler/status", headers={"X-API-Key": key})).json()
    assert status["jobs"] == []
    [problem] = status["invalidSchedules"]
    assert "fires 1 s apart" in problem["error"]
