"""Freshness over HTTP and the command line: reading it, pausing, resuming, limits, metrics.

On SQLite and Postgres, with the fake PIMS (the real-browser cases are in
tests/integration/test_freshness_idexx.py).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import Result
from pydantic import SecretStr
from typer.testing import CliRunner

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services
from pims_sync.cli.app import app as cli_app
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.health import Limit, RunEnd
from pims_sync.domain.outbox import EventType
from tests.integration.api.conftest import ENCRYPTION_KEY, client_for, insert_key

PASSWORD = "right-password"

Invoke = Callable[..., Result]


@pytest.fixture
async def wired(services: Services, clinic: Clinic) -> Services:
    services.pims_provider = FakeProvider(password=PASSWORD, spends_logins=True)
    await services.vault.save(clinic.id, PimsCredentials("vet@example.com", PASSWORD, "1"))
    return services


@pytest.fixture
async def key(wired: Services, clinic: Clinic) -> dict[str, str]:
    _, value = await insert_key(wired, clinic_id=clinic.id)
    return {"X-API-Key": value}


@pytest.fixture
def cli(migrated_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """`pims-sync …` in a thread (it runs its own event loop), on the test's database."""
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": migrated_database_url, "ENCRYPTION_KEY": ENCRYPTION_KEY}

    def invoke(*args: str) -> Result:
        return CliRunner().invoke(cli_app, list(args), env=env)

    return invoke


async def _events(services: Services, clinic: Clinic) -> list[EventType]:
    found = await services.events.after(clinic_id=clinic.id, after_seq=0, limit=100)
    return [event.type for event in found if str(event.type).startswith("clinic.")]


async def test_freshness_is_read_by_any_key_of_the_clinic(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    assert (await client.post("/api/sync/full", json={}, headers=key)).status_code == 200
    answer = await client.get("/api/clinic/freshness", headers=key)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["status"] == "fresh"
    assert body["clinicId"] == str(clinic.id)
    assert body["inbound"]["thresholdSeconds"] == 9000
    assert body["inbound"]["ageSeconds"] >= 0
    assert body["reason"] is None
    _, service = await insert_key(wired, clinic_id=None)
    named = await client.get(
        f"/api/clinic/freshness?clinicId={clinic.id}", headers={"X-API-Key": service}
    )
    assert named.json()["status"] == "fresh"
    unnamed = await client.get("/api/clinic/freshness", headers={"X-API-Key": service})
    assert unnamed.json()["code"] == "clinic_id_required"
    status = await client.get("/api/scheduler/status", headers=key)
    assert [f["status"] for f in status.json()["freshness"]] == ["fresh"]


async def test_pausing_and_resuming_through_the_api(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    _, reader = await insert_key(wired, clinic_id=clinic.id, permissions=["sync:inbound"])
    denied = await client.patch("/api/clinic", json={"paused": True}, headers={"X-API-Key": reader})
    assert denied.json()["code"] == "permission_denied"
    assert "clinic:manage" in denied.json()["error"]
    bad = await client.patch("/api/clinic", json={"paused": "no"}, headers=key)
    assert bad.status_code == 400
    paused = await client.patch("/api/clinic", json={"paused": True}, headers=key)
    assert paused.status_code == 200, paused.text
    assert paused.json()["status"] == "paused"
    assert paused.json()["reason"].startswith("paused through the API by API key")
    refused = await client.post("/api/sync/inbound", json={}, headers=key)
    assert refused.status_code == 409
    assert refused.json()["code"] == "clinic_paused"
    provider = wired.pims_provider
    assert isinstance(provider, FakeProvider)
    assert provider.logins == 0
    resumed = await client.patch("/api/clinic", json={"paused": False}, headers=key)
    assert resumed.json()["status"] == "stale"  # nothing has run yet
    assert resumed.json()["pausedAt"] is None
    assert (await client.post("/api/sync/inbound", json={}, headers=key)).status_code == 200
    assert await _events(wired, clinic) == [
        EventType.CLINIC_PAUSED,
        EventType.CLINIC_FRESHNESS_CHANGED,
        EventType.CLINIC_RESUMED,
        EventType.CLINIC_FRESHNESS_CHANGED,
    ]


async def test_the_login_budget_through_the_api(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    await wired.health.configure(clinic_id=clinic.id, limits={Limit.LOGIN_BUDGET: 2})
    for _ in range(2):
        assert (await client.post("/api/sync/inbound", json={}, headers=key)).status_code == 200
    refused = await client.post("/api/sync/inbound", json={}, headers=key)
    assert refused.status_code == 429
    assert refused.json()["code"] == "pims_login_budget_exhausted"
    assert "daily budget of 2 PIMS logins" in refused.json()["error"]
    freshness = (await client.get("/api/clinic/freshness", headers=key)).json()
    assert freshness["consecutiveFailures"] == 0


async def test_metrics_show_each_phase_age_and_threshold_behind_the_token(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    assert (await client.post("/api/sync/inbound", json={}, headers=key)).status_code == 200
    # An open /metrics counts clinics by status and names none of them.
    text = (await client.get("/metrics")).text
    assert 'pims_sync_clinics_by_freshness{status="stale"} 1.0' in text
    assert 'pims_sync_clinics_by_freshness{status="fresh"} 0.0' in text
    assert str(clinic.id) not in text
    token = "metrics-token-0123456789abcdef"
    settings = wired.settings.model_copy(update={"metrics_token": SecretStr(token)})
    async with client_for(create_app(settings, wired)) as guarded:
        auth = {"Authorization": f"Bearer {token}"}
        text = (await guarded.get("/metrics", headers=auth)).text
    labels = f'clinic_id="{clinic.id}",phase="inbound"'
    assert f"pims_sync_freshness_age_seconds{{{labels}}}" in text
    assert f"pims_sync_freshness_threshold_seconds{{{labels}}} 9000.0" in text
    never = f'clinic_id="{clinic.id}",phase="cases"'
    assert f"pims_sync_freshness_age_seconds{{{never}}}" not in text  # no success yet
    assert f"pims_sync_freshness_threshold_seconds{{{never}}} 9000.0" in text


async def test_the_command_line_reads_pauses_resumes_and_sets_limits(
    wired: Services, clinic: Clinic, cli: Invoke
) -> None:
    for _ in range(10):
        end = RunEnd(success=False, code="pims_unavailable")
        await wired.health.run_ended(clinic_id=clinic.id, end=end, at=datetime.now(UTC))
    shown = await asyncio.to_thread(cli, "clinics", "freshness", "--clinic", str(clinic.id))
    assert shown.exit_code == 0, shown.output
    assert "paused" in shown.output
    assert "10 runs failed in a row (the last: pims_unavailable)" in shown.output
    resumed = await asyncio.to_thread(cli, "clinics", "resume", "--clinic", str(clinic.id))
    assert resumed.exit_code == 0, resumed.output
    assert f"Clinic {clinic.id} resumed" in resumed.output
    again = await asyncio.to_thread(cli, "clinics", "resume", "--clinic", str(clinic.id))
    assert "is not paused" in again.output
    assert not (await wired.health.health(clinic.id)).paused

    limits = ("--freshness-inbound", "3600", "--pause-after", "0", "--login-budget", "4")
    set_ = await asyncio.to_thread(
        cli, "clinics", "set", "--clinic", str(clinic.id), *limits, "--json"
    )
    assert set_.exit_code == 0, set_.output
    status: dict[str, Any] = json.loads(set_.output)
    assert status["inbound"]["thresholdSeconds"] == 3600
    assert status["limits"]["pauseAfterFailures"] == 0
    assert status["limits"]["dailyLoginBudget"] == 4
    reset = await asyncio.to_thread(
        cli, "clinics", "set", "--clinic", str(clinic.id), "--login-budget", "default", "--json"
    )
    assert json.loads(reset.output)["limits"]["dailyLoginBudget"] == 12
    bad = await asyncio.to_thread(
        cli, "clinics", "set", "--clinic", str(clinic.id), "--freshness-cases", "10"
    )
    assert bad.exit_code == 1
    assert "--freshness-cases must be from 60" in bad.output
    paused = await asyncio.to_thread(
        cli, "clinics", "pause", "--clinic", str(clinic.id), "--reason", "moving PIMS"
    )
    assert f"Clinic {clinic.id} paused: moving PIMS." in paused.output
    assert (await wired.health.health(clinic.id)).paused
