"""`POST /api/clinic/credentials/test` and the dashboard's "Check PIMS login", against the
simulator with real Chromium (SQLite: the route's storage is the same as every other's).

Its answers are held to golden files here (the golden module's world has a fake PIMS,
and this route always logs in to a real one)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest
from fastapi import FastAPI
from pydantic import SecretStr

from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.health import PauseKind, PauseReason
from pims_sync.simulator.config import DEFAULTS
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.api.conftest import api_settings, client_for, insert_key
from tests.integration.api.golden import golden
from tests.integration.idexx.fixtures import simulator

pytestmark = [
    pytest.mark.browser,
    pytest.mark.parametrize("database_url", ["sqlite"], indirect=True),
]
__all__ = ["simulator"]  # the fixture, imported for this module's tests
ROUTE = "/api/clinic/credentials/test"
SECRET = "login-check-secret-0123456789abcdef"
BUDGET = 2


@pytest.fixture
async def services(
    migrated_database_url: str, simulator: BackgroundSimulator
) -> AsyncIterator[Services]:
    """Services whose PIMS is the simulator, with a small daily login budget."""
    settings = api_settings(migrated_database_url).model_copy(
        update={
            "idexx_base_url": simulator.base_url,
            "headless": True,
            "pims_daily_login_budget": BUDGET,
            "dashboard_secret": SecretStr(SECRET),
        }
    )
    built = build_services(settings)
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(services.settings, services)
    async with client_for(app) as http:
        yield http


@pytest.fixture
async def clinic(services: Services) -> Clinic:
    return await services.clinics.add(name="Sim Clinic", timezone="America/Chicago")


async def store(services: Services, clinic: Clinic, password: str) -> None:
    login = PimsCredentials(
        username=DEFAULTS.username, password=password, company_id=DEFAULTS.company_id
    )
    await services.vault.save(clinic.id, login)


async def test_ok_then_a_refused_password_then_the_login_budget_is_spent(
    services: Services, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    headers = {"X-API-Key": key}
    await store(services, clinic, DEFAULTS.password)
    ok = await client.post(ROUTE, json={}, headers=headers)
    assert ok.status_code == 200, ok.text
    assert ok.json()["ok"] is True
    assert ok.json()["clinicId"] == str(clinic.id)
    assert ok.json()["seconds"] >= 0
    golden("clinic-credentials-test-ok", ok)

    await store(services, clinic, "wrong-password")
    refused = await client.post(ROUTE, json={}, headers=headers)
    assert refused.status_code == 200, refused.text
    body = refused.json()
    assert (body["ok"], body["code"]) == (False, "pims_auth_failed")
    assert "wrong-password" not in refused.text
    golden("clinic-credentials-test-refused", refused)
    assert not (await services.health.health(clinic.id)).paused  # a check pauses nothing

    spent = await client.post(ROUTE, json={}, headers=headers)
    assert spent.status_code == 429, spent.text
    assert spent.json()["code"] == "pims_login_budget_exhausted"
    golden("error-429-pims-login-budget-exhausted", spent)
    day = datetime.now(UTC).date()
    assert await services.ledger.logins(clinic.id, day) == BUDGET


async def test_a_paused_clinic_is_refused_without_a_login(
    services: Services, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    await store(services, clinic, "wrong-password")
    reason = PauseReason(PauseKind.OPERATOR, "paused by the test")
    await services.health.pause(clinic_id=clinic.id, reason=reason, at=datetime.now(UTC))
    answer = await client.post(ROUTE, json={}, headers={"X-API-Key": key})
    assert answer.status_code == 409, answer.text
    assert answer.json()["code"] == "clinic_paused"
    assert await services.ledger.logins(clinic.id, datetime.now(UTC).date()) == 0


async def test_without_credentials_or_permission_it_is_refused(
    services: Services, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    missing = await client.post(ROUTE, json={}, headers={"X-API-Key": key})
    assert missing.status_code == 404, missing.text
    assert "no PIMS credentials stored" in missing.json()["error"]
    golden("clinic-credentials-test-none-stored", missing)
    _, reader = await insert_key(services, clinic_id=clinic.id, permissions=["clinic:read"])
    await store(services, clinic, DEFAULTS.password)
    forbidden = await client.post(ROUTE, json={}, headers={"X-API-Key": reader})
    assert forbidden.status_code == 403, forbidden.text


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found, html
    return found.group(1)


async def test_the_dashboard_button_says_ok_or_the_refusal(
    services: Services, client: httpx.AsyncClient, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)
    form = await client.get("/dashboard/sign-in")
    signed = await client.post(
        "/dashboard/sign-in", data={"api_key": key, "csrf_token": csrf_of(form.text)}
    )
    assert signed.status_code == 303
    page = await client.get(f"/dashboard/clinics/{clinic.id}")
    assert "Check PIMS login" in page.text
    action = f"/dashboard/clinics/{clinic.id}/login-check"
    assert f'action="{action}"' in page.text

    await store(services, clinic, DEFAULTS.password)
    ok = await client.post(action, data={"csrf_token": csrf_of(page.text)}, follow_redirects=True)
    assert re.search(r"PIMS login OK \([0-9.]+ s\)", ok.text), ok.text

    await store(services, clinic, "wrong-password")
    bad = await client.post(action, data={"csrf_token": csrf_of(ok.text)}, follow_redirects=True)
    assert "PIMS login failed: The PIMS refused the stored username or password" in bad.text

    no_token = await client.post(action, data={})
    assert no_token.status_code in {400, 403}
    assert await services.ledger.logins(clinic.id, datetime.now(UTC).date()) == 2
