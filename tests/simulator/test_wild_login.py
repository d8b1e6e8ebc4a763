"""Login traits of the real site: a late form, a CSRF field, a redirect chain, a search box."""

from __future__ import annotations

import re

import httpx
import pytest

from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from tests.simulator.conftest import (
    CREDENTIALS,
    CSRF_INPUT,
    change_settings,
    drawn_form,
    live_login,
)
from tests.simulator.test_server import CHROMIUM, CHROMIUM_ARGS

USERNAME_INPUT = re.compile(r"<input[^>]*name='username'")


def test_a_login_form_drawn_later_is_not_in_the_initial_html(live: httpx.Client) -> None:
    change_settings(live, loginFormDelayMs=3000)
    page = live.get("/login").text
    assert not USERNAME_INPUT.search(page)
    assert "<form" not in page
    assert "<script>setTimeout(" in page
    assert "}, 3000);</script>" in page
    drawn = drawn_form(page)
    assert USERNAME_INPUT.search(drawn)
    assert "name='company_id'" in drawn
    assert "<button type='submit'>" in drawn
    change_settings(live, loginFormDelayMs=0)
    assert USERNAME_INPUT.search(live.get("/login").text)


def test_a_wrong_password_shows_its_error_at_once_even_with_a_late_form(
    live: httpx.Client,
) -> None:
    change_settings(live, loginFormDelayMs=3000)
    response = live.post("/login", data={**CREDENTIALS, "password": "nope"})
    assert response.status_code == 200
    assert "class='error-message' role='alert'>Invalid username or password" in response.text
    assert not USERNAME_INPUT.search(response.text)


def test_the_csrf_field_is_required_and_checked(live: httpx.Client) -> None:
    change_settings(live, loginCsrf=True)
    first, second = (CSRF_INPUT.search(live.get("/login").text) for _ in range(2))
    assert first
    assert second
    assert first.group(1) != second.group(1)
    for fields in (CREDENTIALS, {**CREDENTIALS, "_csrf": "forged"}):
        refused = live.post("/login", data=fields)
        assert refused.status_code == 403
        assert "class='alert-danger' role='alert'>Your session has expired." in refused.text
        assert "set-cookie" not in refused.headers
        assert CSRF_INPUT.search(refused.text)  # the form again, with a fresh token
    accepted = live.post("/login", data={**CREDENTIALS, "_csrf": first.group(1)})
    assert accepted.status_code == 302
    assert accepted.headers["set-cookie"].startswith("neo_session=")
    stats = live.get("/__sim__/stats").json()
    assert (stats["logins"], stats["loginFailures"]) == (1, 2)
    change_settings(live, loginCsrf=False)
    assert not CSRF_INPUT.search(live.get("/login").text)


def test_a_redirect_chain_follows_the_login_with_the_cookie_set_first(
    live: httpx.Client,
) -> None:
    change_settings(live, loginRedirectHops=3)
    response = live_login(live)
    assert response.headers["set-cookie"].startswith("neo_session=")
    chain = [response.headers["location"]]
    while True:
        response = live.get(chain[-1])
        if response.status_code != 302:
            break
        chain.append(response.headers["location"])
    assert chain == [
        "/auth/callback?step=1&hops=3",
        "/auth/callback?step=2&hops=3",
        "/sso/continue?step=3&hops=3",
        "/schedule",
    ]
    assert response.status_code == 200
    assert "id='dashboard_shell'" in response.text
    live.cookies.clear()
    assert live.get(chain[0]).headers["location"] == "/login"  # each hop needs the cookie


def test_too_many_hops_are_refused(live: httpx.Client) -> None:
    assert live.post("/__sim__/settings", json={"loginRedirectHops": 6}).status_code == 400
    assert live.post("/__sim__/settings", json={"loginFormDelayMs": -1}).status_code == 400
    assert live.post("/__sim__/settings", json={"loginCsrf": "yes"}).status_code == 400


def test_the_landing_page_has_a_barcode_search_box_and_a_zip_field(live: httpx.Client) -> None:
    change_settings(live, landingSearchBox=True)
    landing = live_login(live).headers["location"]
    assert landing == "/home"
    page = live.get(landing).text
    assert "<input name='code' type='text' placeholder='Scan barcode or search'" in page
    assert "<input name='zip_code' type='text' placeholder='Zip code'>" in page
    assert "id='dashboard_shell'" in page
    change_settings(live, landingSearchBox=False)
    assert "name='code'" not in live.get("/home").text


@pytest.mark.browser
async def test_chromium_logs_in_to_the_wild_profile_through_the_page() -> None:
    """Form drawn after 1.5 s, CSRF field, 3 hops, search-box landing: a browser gets in."""
    from playwright.async_api import async_playwright

    with BackgroundSimulator(SimulatorConfig(seed=7, profile="wild")) as server:
        async with async_playwright() as playwright:
            browser = await playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            try:
                page = await browser.new_page()
                hops: list[str] = []
                page.on("response", lambda r: hops.append(r.url) if r.status == 302 else None)
                await page.goto(f"{server.base_url}/login", wait_until="networkidle")
                await page.wait_for_selector("input[name='username']", timeout=15_000)
                for field in ("company_id", "username", "password"):
                    await page.fill(f"input[name='{field}']", CREDENTIALS[field])
                await page.click("button[type='submit']")
                await page.wait_for_url("**/home")
                await page.wait_for_load_state("networkidle")
                assert await page.locator("input[name='code']").count() == 1
                assert len(hops) == 4  # the POST, then three hops
                assert server.simulation.stats.logins == 1
            finally:
                await browser.close()
