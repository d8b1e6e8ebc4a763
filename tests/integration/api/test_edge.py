"""The HTTP edge in-process: the metrics token, its setting, stream slots, headers on a 500."""

from __future__ import annotations

import uuid

import httpx
import pytest

from pims_sync.api.app import create_app
from pims_sync.api.errors import headers_for, status_for
from pims_sync.api.streams import StreamSlots
from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.errors import ConfigError, TooManyStreamsError
from pims_sync.settings import load_settings
from tests.integration.api.conftest import ENCRYPTION_KEY, client_for, insert_key

TOKEN = "a-metrics-token-of-the-tests-42"


async def test_metrics_token_is_checked_in_constant_form(services: Services) -> None:
    settings = load_settings(
        database_url=services.settings.database_url,
        encryption_key=ENCRYPTION_KEY,
        metrics_token=TOKEN,
    )
    async with client_for(create_app(settings, services)) as http:
        answers = {
            "none": await http.get("/metrics"),
            "prefix": await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN[:-1]}"}),
            "longer": await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"}),
            "not utf-8": await http.get("/metrics", headers=[(b"Authorization", b"Bearer \xff")]),
        }
        right = await http.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    codes = {name: (a.status_code, a.json()["code"]) for name, a in answers.items()}
    assert codes == {
        "none": (401, "missing_metrics_token"),
        "prefix": (401, "invalid_metrics_token"),
        "longer": (401, "invalid_metrics_token"),
        "not utf-8": (401, "invalid_metrics_token"),
    }
    assert right.status_code == 200


@pytest.mark.parametrize("value", ["short", "x" * 15])
def test_a_short_metrics_token_is_refused_without_echo(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_settings(database_url="sqlite://", metrics_token=value)
    assert refused.value.message == "METRICS_TOKEN must be at least 16 characters"


def test_an_empty_metrics_token_means_none_and_docs_follow_the_environment() -> None:
    settings = load_settings(database_url="sqlite://", metrics_token="")
    assert settings.metrics_token is None
    assert settings.docs_enabled
    assert not load_settings(database_url="sqlite://", environment="production").docs_enabled
    assert load_settings(
        database_url="sqlite://", environment="production", api_docs=True
    ).docs_enabled


def test_stream_slots_count_per_key_and_come_back() -> None:
    slots = StreamSlots(limit=2)
    mine, theirs = uuid.uuid4(), uuid.uuid4()
    slots.take(mine)
    slots.take(mine)
    with pytest.raises(TooManyStreamsError) as refused:
        slots.take(mine)
    assert (status_for(refused.value), headers_for(refused.value)) == (429, {"Retry-After": "5"})
    slots.take(theirs)
    slots.give_back(mine)
    slots.take(mine)
    assert (slots.open_for(mine), slots.open_for(theirs)) == (2, 1)
    for _ in range(2):
        slots.give_back(mine)
    assert slots.open_for(mine) == 0


async def test_the_last_resort_500_carries_the_headers(
    services: Services, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id)

    async def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    monkeypatch.setattr(services.runs, "history", broken)
    async with client_for(create_app(services.settings, services)) as http:
        answer: httpx.Response = await http.get("/api/sync/history", headers={"X-API-Key": key})
    assert answer.status_code == 500
    assert answer.headers["cache-control"] == "no-store"
    assert answer.headers["x-content-type-options"] == "nosniff"
