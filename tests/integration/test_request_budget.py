"""The daily PIMS request budget through the real app (issue 20, item 3)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.adapters.sql.request_usage import SqlRequestLedger
from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.runs import RunStatus
from pims_sync.settings import load_settings
from tests.integration.api.conftest import ENCRYPTION_KEY, client_for, insert_key

BUDGET = 500


@pytest.fixture
async def services(migrated_database_url: str) -> AsyncIterator[Services]:
    settings = load_settings(
        database_url=migrated_database_url,
        encryption_key=ENCRYPTION_KEY,
        pims_daily_request_budget=BUDGET,
    )
    built = build_services(settings)
    built.pims_provider = FakeProvider(password="pw")
    try:
        yield built
    finally:
        await built.aclose()


async def test_a_clinic_past_its_daily_budget_fails_fast_with_a_clear_code(
    services: Services,
) -> None:
    clinic = await services.clinics.add(name="Busy Paws", timezone="America/Chicago")
    other = await services.clinics.add(name="Quiet Paws", timezone="America/Chicago")
    for each in (clinic, other):
        await services.vault.save(each.id, PimsCredentials("vet@example.com", "pw", "1"))
    today = datetime.now(UTC).date()
    # Earlier runs of the day (any process) sent the whole budget.
    await SqlRequestLedger(services.engine).add(clinic.id, today, BUDGET)
    _, key = await insert_key(services, clinic_id=clinic.id)
    _, other_key = await insert_key(services, clinic_id=other.id)
    async with client_for(create_app(services.settings, services)) as http:
        refused = await http.post("/api/sync/inbound", json={}, headers={"X-API-Key": key})
        fine = await http.post("/api/sync/inbound", json={}, headers={"X-API-Key": other_key})
    assert refused.status_code == 429, refused.text
    body = refused.json()
    assert body["code"] == "pims_budget_exhausted"
    assert f"daily budget of {BUDGET} PIMS requests" in body["error"]
    assert fine.status_code == 200, fine.text  # the budget is per clinic
    provider = services.pims_provider
    assert isinstance(provider, FakeProvider)
    assert provider.logins == 1  # the other clinic's: the refused run never logged in
    [run] = await services.runs.history(clinic_id=clinic.id, limit=5)
    assert run.status is RunStatus.FAILED
    assert run.result is not None
    assert run.result["code"] == "pims_budget_exhausted"
