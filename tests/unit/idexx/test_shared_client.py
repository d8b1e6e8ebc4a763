"""One HTTP client per process, each session with its own cookies; pacing held only while used."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Any

import httpx
import pytest

from pims_sync.adapters.idexx import provider as provider_module
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.ports.provider import ClinicLogin
from tests.unit.idexx.test_session import EVENT, LA, make_provider


def _login() -> ClinicLogin:
    return ClinicLogin(uuid.uuid4(), PimsCredentials(username="u@example.com", password="p"))


@pytest.fixture
def per_clinic_logins(monkeypatch: pytest.MonkeyPatch) -> None:
    async def fake_log_in(context: object, **kwargs: Any) -> list[dict[str, object]]:
        token = kwargs["credentials"].password  # a token of this clinic's own
        return [{"name": "neo_session", "value": token, "domain": "us.idexxneo.test"}]

    monkeypatch.setattr(provider_module, "log_in", fake_log_in)


async def test_sessions_share_one_client_and_never_each_others_cookies(
    per_clinic_logins: None,
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("Cookie", ""))
        # The PIMS refreshes the session cookie on every answer: it must stay this session's.
        token = request.headers["Cookie"].removeprefix("neo_session=")
        refreshed = f"neo_session={token}-r; Path=/"
        return httpx.Response(200, json=[EVENT], headers={"Set-Cookie": refreshed})

    provider = make_provider(handler)
    logins = [
        ClinicLogin(uuid.uuid4(), PimsCredentials(username="u", password=f"clinic{i}"))
        for i in range(3)
    ]
    clients = set()
    window = (datetime(2026, 1, 22, tzinfo=LA), datetime(2026, 1, 23, tzinfo=LA))

    async def run(login: ClinicLogin) -> list[dict[str, object]]:
        async with provider.session(login) as session:
            clients.add(id(session._api._client))
            await session.fetch_appointments(*window)
            await session.fetch_appointments(*window)
            return session._api.cookies()

    jars = await asyncio.gather(*(run(login) for login in logins))
    assert len(clients) == 1  # one process-wide client
    assert sorted(seen) == sorted(
        [f"neo_session=clinic{i}" for i in range(3)]
        + [f"neo_session=clinic{i}-r" for i in range(3)]
    )
    assert [[c["value"] for c in jar] for jar in jars] == [[f"clinic{i}-r-r"] for i in range(3)]
    assert not provider.http.cookies.jar  # the shared client kept none
    shared = provider.http
    assert not shared.is_closed  # a session's end does not close it; the provider's does
    await provider.aclose()
    assert shared.is_closed


async def test_pacing_is_held_only_while_a_clinic_has_a_session(per_clinic_logins: None) -> None:
    provider = make_provider(lambda request: httpx.Response(200, json=[]))
    login = _login()
    async with provider.session(login):
        async with provider.session(login):  # a second session of the clinic shares it
            assert provider.limiters_held == 1
        assert provider.limiters_held == 1
    for _ in range(100):  # a hundred clinics served one after the other
        async with provider.session(_login()):
            assert provider.limiters_held == 1
    assert provider.limiters_held == 0  # nothing kept per clinic
    await provider.aclose()
