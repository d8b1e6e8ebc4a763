"""The dashboard's sign-in, CSRF and overview, in-process on SQLite and Postgres."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.adapters.sql.dashboard import SqlDashboardReads
from pims_sync.api.app import create_app
from pims_sync.api.dashboard.session import SESSION_COOKIE, Sealer
from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from tests.integration.api.conftest import client_for, insert_key
from tests.integration.api.test_sync_routes import PASSWORD, appointments

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
    points = await reads.run_points([clinic.id, other.id], now - timedelta(hours=1))
    assert sorted(p.status for p in points) == ["completed", "in_progress"]
    assert all(p.started_at.tzinfo is not None for p in points)


async def test_the_charts_page_counts_the_keys_runs(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    assert (await browser.get("/dashboard/charts")).headers["location"] == "/dashboard/sign-in"
    await sign_in(browser, key)
    page = await browser.get("/dashboard/charts")
    assert page.status_code == 200
    assert "Runs per hour, last 24 hours" in page.text
    assert "Cases written per day, last 7 days" in page.text


async def synced_clinic(services: Services, clinic: Clinic) -> str:
    """The clinic with credentials, an inbound schedule and a key; the fake PIMS behind it."""
    services.pims_provider = FakeProvider(
        appointments=appointments("America/Chicago"), password=PASSWORD
    )
    await services.vault.save(clinic.id, PimsCredentials("vet@example.com", PASSWORD, "1001"))
    await services.schedules.put(clinic.id, [{"type": "inbound", "cron": "0 6 * * *"}])
    _, key = await insert_key(services, clinic_id=clinic.id)
    return key


async def test_a_clinic_key_cannot_open_another_clinics_page(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    other = await services.clinics.add(name="Other Clinic")
    _, key = await insert_key(services, clinic_id=clinic.id)
    await sign_in(browser, key)
    own = await browser.get(f"/dashboard/clinics/{clinic.id}")
    assert own.status_code == 200
    for path in (f"/dashboard/clinics/{other.id}", "/dashboard/clinics/not-a-uuid"):
        answer = await browser.get(path)
        assert answer.status_code == 404
        assert other.name not in answer.text


async def test_schedule_switch_and_sync_now_go_through_the_api(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    key = await synced_clinic(services, clinic)
    await sign_in(browser, key)
    page = await browser.get(f"/dashboard/clinics/{clinic.id}")
    assert 'id="schedule-inbound-state">on' in page.text
    token = csrf_of(page.text)
    switched = await browser.post(
        f"/dashboard/clinics/{clinic.id}/schedules",
        data={"csrf_token": token, "type": "inbound", "enabled": "false"},
        follow_redirects=True,
    )
    assert "The inbound schedule is now off." in switched.text
    status = await browser.get("/api/scheduler/status", headers={"X-API-Key": key})
    [job] = [j for j in status.json()["jobs"] if j["type"] == "inbound"]
    assert job["enabled"] is False
    preview = await browser.post(
        f"/dashboard/clinics/{clinic.id}/sync",
        data={"csrf_token": token, "kind": "reconcile", "dry_run": "on"},
    )
    assert preview.status_code == 200
    assert "Dry run:" in preview.text
    started = await browser.post(
        f"/dashboard/clinics/{clinic.id}/sync",
        data={"csrf_token": token, "kind": "inbound"},
        follow_redirects=True,
    )
    assert "Started: inbound sync." in started.text
    [run] = await services.runs.history(clinic_id=clinic.id, limit=1)
    run_page = await browser.get(f"/dashboard/clinics/{clinic.id}/runs/{run.id}")
    assert run_page.status_code == 200
    assert str(run.id) in run_page.text
    unknown = await browser.get(f"/dashboard/clinics/{clinic.id}/runs/{uuid.uuid4()}")
    assert unknown.status_code == 404
    no_token = await browser.post(f"/dashboard/clinics/{clinic.id}/sync", data={"kind": "full"})
    assert no_token.status_code == 403


async def test_a_key_without_the_permission_is_refused_by_the_api_rules(
    services: Services, browser: httpx.AsyncClient, clinic: Clinic
) -> None:
    await synced_clinic(services, clinic)
    _, reader = await insert_key(services, clinic_id=clinic.id, permissions=["sync:read"])
    await sign_in(browser, reader)
    page = await browser.get(f"/dashboard/clinics/{clinic.id}")
    answer = await browser.post(
        f"/dashboard/clinics/{clinic.id}/sync",
        data={"csrf_token": csrf_of(page.text), "kind": "full"},
        follow_redirects=True,
    )
    assert "Refused by the API (403): Permission denied" in answer.text
    assert await services.runs.history(clinic_id=clinic.id) == []
