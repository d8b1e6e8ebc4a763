"""Issue 18's must-show: the web dashboard in headless Chromium against a real service.

One simulator, one real API server (uvicorn in a thread, SQLite) and one clinic for the
module, on real time (the simulator's clock runs too, so freshness is judged on the same
clock the runs were recorded with). The tests run in file order. Each page is captured
at 1280×800 into build/dashboard/ (`make dashboard-screens` publishes them to
docs/dashboard/): the tests never write tracked files.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.adapters.sql.session_cache import SqlSessionCache
from pims_sync.bootstrap import Services, build_services
from pims_sync.settings import Settings
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from tests.e2e.sync_stack import ENCRYPTION_KEY, FAST_RETRY, ZONE, ThreadedApi, _create_clinic

pytestmark = pytest.mark.browser

SECRET = "e2e-dashboard-secret-0123456789abcdef"
SCREENS = Path(__file__).resolve().parents[2] / "build" / "dashboard"
VIEWPORT = {"width": 1280, "height": 800}
TIMEOUT_MS = 120_000


class DashboardApi(ThreadedApi):
    """The service on real time, with a fast-retrying provider (failures fail fast)."""

    async def build(self) -> Services:
        services = build_services(self.settings)
        options = IdexxOptions.from_settings(self.settings, retry=FAST_RETRY)
        cache = SqlSessionCache(services.engine, self.settings.require_encryption_key())
        services.pims_provider = IdexxProvider(
            options, session_cache=cache, metrics=services.metrics
        )
        return services


@dataclass
class Stack:
    """The running service, its simulator (restartable on its port), the clinic and keys."""

    settings: Settings
    sim: BackgroundSimulator
    api: DashboardApi
    clinic_id: uuid.UUID
    key: str
    other_clinic_id: uuid.UUID
    browser: Browser

    @property
    def base(self) -> str:
        return self.api.base_url

    def stop_simulator(self) -> None:
        self.sim.stop()

    def restart_simulator(self) -> None:
        self.sim = BackgroundSimulator(self.sim.config, port=self.sim.port).start()

    def api_get(self, path: str) -> dict:  # type: ignore[type-arg]
        answer = httpx.get(f"{self.base}{path}", headers={"X-API-Key": self.key}, timeout=30)
        assert answer.status_code == 200, answer.text
        return dict(answer.json())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    url = f"sqlite:///{tmp_path_factory.mktemp('dashboard') / 'pims-sync.db'}"
    upgrade_database(url)
    settings = Settings(
        database_url=url,
        encryption_key=ENCRYPTION_KEY,
        dashboard_secret=SECRET,
        pims_rate_limit_per_second=50.0,
        enable_scheduler=False,
    )
    sim = BackgroundSimulator(SimulatorConfig(seed=42, timezone=str(ZONE))).start()
    clinic_id, key = asyncio.run(_create_clinic(settings, sim))
    other_id, _ = asyncio.run(_create_clinic(settings, sim))  # before Playwright's own loop
    api = DashboardApi(settings).start()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=settings.browser_path())
        stack = Stack(settings, sim, api, clinic_id, key, other_id, browser)
        try:
            yield stack
        finally:
            browser.close()
            api.stop()
            stack.sim.stop()


def new_page(stack: Stack) -> Page:
    context = stack.browser.new_context(viewport=VIEWPORT)  # type: ignore[arg-type]
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return page


def sign_in(stack: Stack, page: Page, key: str) -> None:
    page.goto(f"{stack.base}/dashboard")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in$"))
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(r"/dashboard/clinics$"))


def shoot(page: Page, name: str) -> None:
    SCREENS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENS / f"{name}.png"))


def sync_now(page: Page, kind: str) -> None:
    page.get_by_label("What to sync", exact=True).select_option(kind)
    page.get_by_role("button", name="Sync now").click()


def wait_finished(page: Page, stack: Stack) -> str:
    """Reload the clinic page until its latest run has ended; its outcome."""
    status = page.locator("#latest-status")
    expect(status).not_to_have_text("in_progress", timeout=TIMEOUT_MS)
    page.goto(f"{stack.base}/dashboard/clinics/{stack.clinic_id}")
    return status.inner_text()


def test_sign_in_sync_fail_and_recover(stack: Stack) -> None:
    page = new_page(stack)
    page.goto(f"{stack.base}/dashboard/sign-in")
    shoot(page, "sign-in")
    sign_in(stack, page, stack.key)
    page.get_by_role("link", name="E2E Clinic").click()
    sync_now(page, "full")
    assert wait_finished(page, stack) == "completed"
    expect(page.locator("#freshness")).to_have_text("fresh")
    shoot(page, "clinic")
    page.goto(f"{stack.base}/dashboard/clinics")
    expect(page.locator("table.grid tbody tr").first).to_contain_text("fresh")
    # The vendored htmx is served by the process itself and reloads the table in place.
    assert page.evaluate("typeof htmx") == "object"
    with page.expect_response(re.compile(r"/dashboard/clinics/table")) as reloaded:
        page.evaluate("htmx.ajax('GET', '/dashboard/clinics/table', '#clinics-table')")
    assert reloaded.value.status == 200
    expect(page.locator("#clinics-table table.grid tbody tr").first).to_contain_text("fresh")
    shoot(page, "clinics")

    stack.stop_simulator()
    page.goto(f"{stack.base}/dashboard/clinics/{stack.clinic_id}")
    sync_now(page, "inbound")
    assert wait_finished(page, stack) == "failed"
    expect(page.locator("#freshness")).to_have_text("failing")
    expect(page.locator("#last-failure")).to_contain_text("inbound sync failed")
    expect(page.locator("#failure-words")).to_contain_text("The PIMS could not be reached")
    shoot(page, "clinic-failing")
    page.locator("#latest-run a").click()
    expect(page.locator("#run-status")).to_have_text("failed")
    expect(page.locator("#run-error")).to_contain_text("unreachable")
    page.goto(f"{stack.base}/dashboard/clinics/{stack.clinic_id}")

    stack.restart_simulator()
    sync_now(page, "full")
    assert wait_finished(page, stack) == "completed"
    expect(page.locator("#freshness")).to_have_text("fresh")
    page.locator("#latest-run a").click()
    expect(page.locator("#run-status")).to_have_text("completed")
    expect(page.get_by_role("heading", name="inbound: ok")).to_be_visible()
    expect(page.get_by_role("heading", name="reconciliation: ok")).to_be_visible()
    shoot(page, "run")
    page.get_by_role("link", name="Charts").click()
    expect(page.get_by_role("heading", name="Runs per hour, last 24 hours")).to_be_visible()
    shoot(page, "charts")


def test_a_schedule_switch_changes_the_scheduler_status(stack: Stack) -> None:
    entries = [{"type": "inbound", "cron": "0 6 * * *"}]
    httpx.patch(
        f"{stack.base}/api/scheduler/schedules",
        json={**entries[0]},
        headers={"X-API-Key": stack.key},
        timeout=30,
    ).raise_for_status()
    page = new_page(stack)
    sign_in(stack, page, stack.key)
    page.goto(f"{stack.base}/dashboard/clinics/{stack.clinic_id}")
    page.get_by_role("switch", name=re.compile("inbound schedule: on")).click()
    expect(page.locator("#schedule-inbound-state")).to_have_text("off")
    [job] = [j for j in stack.api_get("/api/scheduler/status")["jobs"] if j["type"] == "inbound"]
    assert job["enabled"] is False
    page.get_by_role("switch", name=re.compile("inbound schedule: off")).focus()
    page.keyboard.press("Enter")  # the keyboard works as well as the mouse
    expect(page.locator("#schedule-inbound-state")).to_have_text("on")
    [job] = [j for j in stack.api_get("/api/scheduler/status")["jobs"] if j["type"] == "inbound"]
    assert job["enabled"] is True


def test_refusals_another_clinic_no_cookie_forged_cookie_no_csrf(stack: Stack) -> None:
    page = new_page(stack)
    sign_in(stack, page, stack.key)
    answer = page.goto(f"{stack.base}/dashboard/clinics/{stack.other_clinic_id}")
    assert answer is not None
    assert answer.status == 404
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    # A form without the CSRF token: the browser posts it, the dashboard refuses it.
    page.goto(f"{stack.base}/dashboard/clinics/{stack.clinic_id}")
    page.evaluate("document.querySelectorAll('input[name=csrf_token]').forEach(e => e.remove())")
    with page.expect_response(re.compile(r"/sync$")) as refused:
        sync_now(page, "full")
    assert refused.value.status == 403
    expect(page.get_by_role("heading", name="Form refused")).to_be_visible()
    # A forged cookie, then none: back to sign-in.
    page.context.add_cookies(
        [{"name": "pims_dashboard", "value": "forged", "url": f"{stack.base}/dashboard"}]
    )
    page.goto(f"{stack.base}/dashboard/clinics")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in$"))
    page.context.clear_cookies()
    page.goto(f"{stack.base}/dashboard/clinics/{stack.clinic_id}")
    expect(page).to_have_url(re.compile(r"/dashboard/sign-in$"))
