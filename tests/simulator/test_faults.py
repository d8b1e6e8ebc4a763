"""Injected faults: status, count, rate (seeded), Retry-After, HTML, latency, scope, clear."""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.simulator.conftest import CREDENTIALS, client_for, make_app, set_clock, week

CALENDAR = (
    "/appointments/getCalendarEventData?start=2026-01-22%2000:00:00&end=2026-01-22%2023:59:59"
)


async def fault(client: httpx.AsyncClient, **spec: object) -> None:
    response = await client.post("/__sim__/faults", json=spec)
    assert response.status_code == 200, response.text


async def test_status_fault_hits_only_its_endpoint(client: httpx.AsyncClient) -> None:
    await fault(client, endpoint="calendar", status=500, rate=1.0)
    broken = await client.get(CALENDAR)
    assert broken.status_code == 500
    assert broken.json()["success"] is False
    assert (await client.get("/appointments/getAppointmentView")).status_code == 200
    assert (await client.get("/search/patients", params={"q": "a"})).status_code == 200


async def test_count_stops_after_n_requests(client: httpx.AsyncClient) -> None:
    await fault(client, endpoint="page-data", status=503, count=2)
    codes = [(await client.get("/consultations/1/page-data")).status_code for _ in range(4)]
    assert codes == [503, 503, 404, 404]
    listed = (await client.get("/__sim__/faults")).json()["faults"]
    assert listed[0]["count"] == 0
    assert listed[0]["hits"] == 2


async def test_429_carries_retry_after(client: httpx.AsyncClient) -> None:
    await fault(client, endpoint="search", status=429, retryAfter=7)
    response = await client.get("/search/patients", params={"q": "a"})
    assert response.status_code == 429
    assert response.headers["retry-after"] == "7"


async def test_html_instead_of_json(client: httpx.AsyncClient) -> None:
    await fault(client, endpoint="calendar", html=True)
    response = await client.get(CALENDAR)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.text.startswith("<!DOCTYPE html>")


async def test_rate_is_random_but_repeatable() -> None:
    async def pattern() -> list[int]:
        async with client_for(make_app()) as client:
            await set_clock(client)
            await client.post("/login", data=CREDENTIALS)
            await fault(client, endpoint="appointment", status=500, rate=0.5)
            return [
                (await client.get("/appointments/getAppointmentView")).status_code
                for _ in range(40)
            ]

    first, second = await pattern(), await pattern()
    assert first == second
    assert 8 <= first.count(500) <= 32
    assert 200 in first


async def test_latency_delays_without_blocking_others(client: httpx.AsyncClient) -> None:
    await fault(client, endpoint="calendar", latencyMs=400)
    finished: list[str] = []

    async def fetch(name: str, path: str) -> float:
        started = time.perf_counter()
        await client.get(path)
        finished.append(name)
        return time.perf_counter() - started

    slow, _ = await asyncio.gather(
        fetch("calendar", CALENDAR), fetch("page-data", "/consultations/1/page-data")
    )
    assert slow >= 0.4  # the fault's delay was applied (a lower bound, not a speed claim)
    assert finished == ["page-data", "calendar"]  # and it did not hold up the other request


async def test_base_latency_setting_slows_data_endpoints(client: httpx.AsyncClient) -> None:
    await client.post("/__sim__/settings", json={"latencyMs": 150})
    started = time.perf_counter()
    await client.get("/appointments/getAppointmentView")
    assert time.perf_counter() - started >= 0.15
    stats = (await client.get("/__sim__/stats")).json()
    assert stats["endpoints"]["view"]["maxMs"] >= 150


async def test_star_covers_every_endpoint_and_login(anonymous: httpx.AsyncClient) -> None:
    await fault(anonymous, endpoint="*", status=502)
    assert (await anonymous.post("/login", data=CREDENTIALS)).status_code == 502
    assert (await anonymous.get("/login")).status_code == 502
    assert (await anonymous.get(CALENDAR)).status_code == 502
    assert (await anonymous.get("/__sim__/stats")).status_code == 200  # control API unaffected


async def test_login_fault(anonymous: httpx.AsyncClient) -> None:
    await fault(anonymous, endpoint="login", status=503, count=1)
    assert (await anonymous.post("/login", data=CREDENTIALS)).status_code == 503
    assert (await anonymous.post("/login", data=CREDENTIALS)).status_code == 302


async def test_clear_removes_all(client: httpx.AsyncClient) -> None:
    await fault(client, endpoint="calendar", status=500)
    await fault(client, endpoint="search", status=500)
    assert (await client.post("/__sim__/faults", json={"clear": True})).json()["faults"] == []
    assert len(await week(client, "2026-01-22", "2026-01-22")) > 0


async def test_invalid_faults_are_refused(client: httpx.AsyncClient) -> None:
    for spec in (
        {"endpoint": "nowhere", "status": 500},
        {"endpoint": "calendar"},
        {"endpoint": "calendar", "status": 500, "rate": 2},
        {"endpoint": "calendar", "status": "500"},
    ):
        assert (await client.post("/__sim__/faults", json=spec)).status_code == 400
    assert (await client.get("/__sim__/faults")).json() == {"faults": []}


async def test_appointment_family_covers_the_management_endpoints(
    client: httpx.AsyncClient,
) -> None:
    await fault(client, endpoint="appointment", status=403)
    assert (await client.get("/appointments/getAppointmentView")).status_code == 403
    assert (await client.get("/appointments/getAppointment?id=1")).status_code == 403
    assert (await client.post("/appointments/delete/1", json={})).status_code == 403
    assert (await client.get(CALENDAR)).status_code == 200
    stats = (await client.get("/__sim__/stats")).json()["endpoints"]
    assert stats["view"]["statuses"] == {"403": 1}
