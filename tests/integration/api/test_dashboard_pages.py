"""The dashboard's sign-in, CSRF and overview, in-process on SQLite and Postgres."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from pims_sync.adapters.sql.dashboard import SqlDashboardReads
from pims_sync.api.app import create_app
from pims_sync.api.dashboard.session import SESSION_COOKIE, Sealer
from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from tests.integration.api.conftest import client_for, insert_key

SECRET = "dashboard-test-secret-0123456789abcdef"


@pytest.fixture
def app(services: Services) -> FastAPI:
    """The real app with the dashboard on."""
    settings = services.settings.model_copy(update={"dashboard_secret": SecretStr(SECRET)})
    return create_app(settings, services)


@pytest.fixture
async def browser(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with client_for(app) as http:
        yield http


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def sign_in(browser: httpx.AsyncClient, key: str) -> httpx.Response:
    form = await browser.get("/dashboard/sign-in")
    return await browser.post(
        "/dashboard/sign-in", data={"api_key": key, "csrf_token": csrf_of(form.text)}
    )


async def test_without_the_secret_the_dashboard_says_it_is_off(services: Services) -> None:
    async with client_for(create_app(services.settings, services)) as http:
        answer = await http.get("/dashboard/clinics")
    assert answer.status_code == 503
    assert "DASHBOARD_SECRET" in answer.text


async def test_sign_in_sets_a_sealed_strict_http_only_cookie(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    answer = await sign_in(browser, key)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/dashboard/clinics"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if SESSION_COOKIE + "=" in h)
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert key not in cookie  # sealed, not merely signed
    overview = await browser.get("/dashboard/clinics")
    assert overview.status_code == 200
    assert "Happy Paws" in overview.text
    assert "Sign out" in overview.text


async def test_a_wrong_key_is_refused_with_the_reason(browser: httpx.AsyncClient) -> None:
    answer = await sign_in(browser, "not-a-key")
    assert answer.status_code == 401
    assert "Invalid API key" in answer.text
    assert SESSION_COOKIE not in answer.headers.get("set-cookie", "")


async def test_missing_or_forged_cookie_goes_to_sign_in(browser: httpx.AsyncClient) -> None:
    missing = await browser.get("/dashboard/clinics")
    assert (missing.status_code, missing.headers["location"]) == (303, "/dashboard/sign-in")
    forged = Sealer(SecretStr(SECRET.replace("0", "1"))).seal("some-key")
    browser.cookies.set(SESSION_COOKIE, forged, path="/dashboard")
    answer = await browser.get("/dashboard/clinics")
    assert (answer.status_code, answer.headers["location"]) == (303, "/dashboard/sign-in")


async def test_a_form_without_its_csrf_token_is_403_and_changes_nothing(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    await browser.get("/dashboard/sign-in")
    answer = await browser.post("/dashboard/sign-in", data={"api_key": key})
    assert answer.status_code == 403
    wrong = await browser.post("/dashboard/sign-in", data={"api_key": key, "csrf_token": "x"})
    assert wrong.status_code == 403
    assert SESSION_COOKIE not in browser.cookies


async def test_sign_out_forgets_the_key(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    await sign_in(browser, key)
    page = await browser.get("/dashboard/clinics")
    out = await browser.post("/dashboard/sign-out", data={"csrf_token": csrf_of(page.text)})
    assert out.status_code == 303
    browser.cookies.delete(SESSION_COOKIE, path="/dashboard")  # as a browser would on max-age=0
    answer = await browser.get("/dashboard/clinics")
    assert answer.headers["location"] == "/dashboard/sign-in"


async def test_a_revoked_key_is_signed_out(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    key_id, key = await insert_key(services, clinic_id=clinic.id)
    await sign_in(browser, key)
    await services.api_keys.revoke(key_id)
    answer = await browser.get("/dashboard/clinics")
    assert answer.headers["location"] == "/dashboard/sign-in"


async def test_a_one_time_link_signs_in_once(
    app: FastAPI, services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    token = app.state.dashboard_links.issue(key)
    first = await browser.get(f"/dashboard/sign-in?token={token}")
    assert first.status_code == 303
    assert (await browser.get("/dashboard/clinics")).status_code == 200
    browser.cookies.clear()
    again = await browser.get(f"/dashboard/sign-in?token={token}")
    assert again.status_code == 401


async def test_a_clinic_key_sees_its_clinic_and_a_service_key_sees_all(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    other = await services.clinics.add(name="Other Clinic", timezone="Europe/Berlin")
    _, own = await insert_key(services, clinic_id=clinic.id)
    _, service = await insert_key(services, clinic_id=None)
    await sign_in(browser, own)
    page = (await browser.get("/dashboard/clinics")).text
    assert "Happy Paws" in page
    assert other.name not in page
    browser.cookies.clear()
    await sign_in(browser, service)
    table = (await browser.get("/dashboard/clinics/table")).text
    assert "Happy Paws" in table
    assert other.name in table
    failing = (await browser.get("/dashboard/clinics?status=fresh")).text
    assert other.name not in failing  # never synced: not fresh


async def test_batched_reads_give_each_clinic_its_own_runs_and_cases(
    services: Services, clinic: Clinic
) -> None:
    other = await services.clinics.add(name="Other Clinic")
    now = datetime.now(UTC)
    older = await services.runs.start(
        clinic_id=clinic.id, sync_type=SyncType.FULL, triggered_by=Trigger.API, at=now
    )
    await services.runs.finish(
        run_id=older.id,
        status=RunStatus.COMPLETED,
        counters=RunCounters(),
        error_message=None,
        result=None,
        at=now,
    )
    newer = await services.runs.start(
        clinic_id=clinic.id,
        sync_type=SyncType.INBOUND,
        triggered_by=Trigger.API,
        at=now + timedelta(seconds=5),
    )
    reads = SqlDashboardReads(services.engine)
    latest = await reads.latest_runs([clinic.id, other.id])
    assert list(latest) == [clinic.id]
    assert latest[clinic.id].id == newer.id
    since = await reads.runs_since([clinic.id, other.id], now - timedelta(hours=1))
    assert [r.id for r in since] == [older.id, newer.id]
    assert await reads.cases_ahead([clinic.id, other.id], now, now + timedelta(days=7)) == {}
