"""The real server: plain HTTP over a socket, and headless Chromium through the HTML form."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from tests.simulator.conftest import CREDENTIALS, NOW
from tests.simulator.spec_examples import CALENDAR_APPOINTMENT, PAGE_DATA, same_shape

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
WEEK = {"start": "2026-01-22 00:00:00", "end": "2026-01-28 23:59:59"}
XHR_HEADERS = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}


@pytest.fixture
def server() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(SimulatorConfig(seed=7)) as running:
        httpx.post(f"{running.base_url}/__sim__/clock", json={"now": NOW}).raise_for_status()
        yield running


async def test_plain_http_login_calendar_and_page_data(server: BackgroundSimulator) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, headers=XHR_HEADERS) as client:
        form = await client.get("/login")
        assert "name='company_id'" in form.text
        response = await client.post("/login", data=CREDENTIALS)
        assert response.status_code == 302
        assert response.headers["location"] == "/schedule"
        assert any("session" in name for name in client.cookies)
        events = (await client.get("/appointments/getCalendarEventData", params=WEEK)).json()
        assert 280 <= len(events) <= 315
        consultation = next(e["consultation_id"] for e in events if e["consultation_id"])
        data = (await client.get(f"/consultations/{consultation}/page-data")).json()
        assert same_shape(PAGE_DATA, data) == []
    assert server.simulation.stats.logins == 1


FETCH_JSON = """async (url) => {
    const response = await fetch(url, {credentials: "include", headers: {
        "Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}});
    return {status: response.status, body: await response.json()};
}"""


@pytest.mark.browser
async def test_chromium_logs_in_through_the_form_and_fetches(
    server: BackgroundSimulator,
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await (await browser.new_context()).new_page()
            await page.goto(f"{server.base_url}/login", wait_until="networkidle")
            await page.fill('input[name="company_id"], input[type="company_id"]', "1001")
            await page.fill('input[name="username"], input[type="email"]', CREDENTIALS["username"])
            await page.fill(
                'input[name="password"], input[type="password"]', CREDENTIALS["password"]
            )
            await page.click('button[type="submit"]')
            await page.wait_for_load_state("networkidle")
            assert "/login" not in page.url
            assert await page.locator("#dashboard_shell").count() == 1
            cookies = await page.context.cookies()
            assert any("session" in cookie["name"].lower() for cookie in cookies)

            await page.goto(server.base_url + "/", wait_until="domcontentloaded")
            query = "start=2026-01-22%2000%3A00%3A00&end=2026-01-28%2023%3A59%3A59"
            calendar: dict[str, Any] = await page.evaluate(
                FETCH_JSON, f"/appointments/getCalendarEventData?{query}"
            )
            assert calendar["status"] == 200
            events = calendar["body"]
            appointment = next(e for e in events if e["consultation_id"])
            assert same_shape(CALENDAR_APPOINTMENT, appointment) == []
            consultation = await page.evaluate(
                FETCH_JSON, f"/consultations/{appointment['consultation_id']}/page-data"
            )
            assert consultation["status"] == 200
            assert same_shape(PAGE_DATA, consultation["body"]) == []
        finally:
            await browser.close()


@pytest.mark.browser
async def test_chromium_sees_the_error_element_on_a_wrong_password(
    server: BackgroundSimulator,
) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            page = await browser.new_page()
            await page.goto(f"{server.base_url}/login", wait_until="networkidle")
            await page.fill('input[name="company_id"]', "1001")
            await page.fill('input[name="username"]', CREDENTIALS["username"])
            await page.fill('input[name="password"]', "wrong")
            await page.click('button[type="submit"]')
            error = page.locator(".error-message, .alert-danger")
            await error.wait_for(timeout=5000)
            assert "Invalid username or password" in await error.inner_text()
            assert "/login" in page.url
        finally:
            await browser.close()
