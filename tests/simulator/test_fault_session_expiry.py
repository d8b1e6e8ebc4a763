"""The session-expiring fault: `after` N requests, the sessions end mid-run, `count` times."""

from __future__ import annotations

import httpx

from tests.simulator.conftest import login, week

PAGE_DATA = "/consultations/1/page-data"


async def test_sessions_expire_after_n_requests(client: httpx.AsyncClient) -> None:
    spec = {"endpoint": "page-data", "expireSession": True, "after": 2, "count": 1}
    assert (await client.post("/__sim__/faults", json=spec)).status_code == 200
    codes = [(await client.get(PAGE_DATA)).status_code for _ in range(4)]
    # Two answered normally (404: no such consultation), then the session is gone for good.
    assert codes == [404, 404, 302, 302]
    assert (await client.get("/__sim__/sessions")).json() == {"active": 0}
    listed = (await client.get("/__sim__/faults")).json()["faults"][0]
    assert (listed["hits"], listed["count"], listed["after"]) == (1, 0, 0)
    assert (await login(client)).status_code == 302
    assert (await client.get(PAGE_DATA)).status_code == 404  # spent: a new login holds


async def test_expiry_answers_as_the_setting_says(client: httpx.AsyncClient) -> None:
    await client.post("/__sim__/settings", json={"sessionExpiredResponse": "401"})
    await client.post("/__sim__/faults", json={"endpoint": "page-data", "expireSession": True})
    response = await client.get(PAGE_DATA)
    assert response.status_code == 401
    assert response.json()["message"] == "Session expired"


async def test_other_endpoints_do_not_arm_it(client: httpx.AsyncClient) -> None:
    spec = {"endpoint": "page-data", "expireSession": True, "after": 1}
    await client.post("/__sim__/faults", json=spec)
    for _ in range(3):
        assert len(await week(client, "2026-01-22", "2026-01-22")) > 0
    assert (await client.get("/__sim__/sessions")).json() == {"active": 1}


async def test_invalid_expiry_faults_are_refused(client: httpx.AsyncClient) -> None:
    for spec in (
        {"endpoint": "page-data", "expireSession": "yes"},
        {"endpoint": "page-data", "expireSession": True, "after": -1},
        {"endpoint": "page-data", "expireSession": False},
    ):
        assert (await client.post("/__sim__/faults", json=spec)).status_code == 400
