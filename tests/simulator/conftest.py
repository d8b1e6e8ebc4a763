"""Fixtures: the simulator in-process (httpx over ASGI) and over real HTTP, clock frozen."""

from __future__ import annotations

import base64
import json
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pims_sync.simulator.app import create_app
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from pims_sync.simulator.simulation import Simulation

BASE_URL = "http://idexx.test"
NOW = "2026-01-22 18:00:00"  # a Thursday evening, like the run in the original log
CREDENTIALS = {
    "company_id": "1001",
    "username": "vet@example.com",
    "password": "simulator-password",
}


def make_app(**overrides: Any) -> Starlette:
    """A simulator app with test defaults."""
    return create_app(SimulatorConfig(**{"seed": 7, **overrides}))


def client_for(app: Starlette) -> httpx.AsyncClient:
    """An HTTP client talking to the app in-process (no redirects followed)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=BASE_URL)


async def login(client: httpx.AsyncClient, **fields: str) -> httpx.Response:
    """Post the login form like a browser does."""
    return await client.post("/login", data={**CREDENTIALS, **fields})


async def set_clock(client: httpx.AsyncClient, now: str = NOW) -> None:
    """Freeze the simulated clock."""
    response = await client.post("/__sim__/clock", json={"now": now})
    assert response.status_code == 200, response.text


@pytest.fixture
def app() -> Starlette:
    """A fresh simulator (seed 7, one clinic)."""
    return make_app()


@pytest.fixture
def simulation(app: Starlette) -> Simulation:
    """The app's state, for assertions that look behind the HTTP surface."""
    sim: Simulation = app.state.simulation
    return sim


@pytest.fixture
async def anonymous(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A client with the clock frozen at NOW and no session."""
    async with client_for(app) as client:
        await set_clock(client)
        yield client


@pytest.fixture
async def client(anonymous: httpx.AsyncClient) -> httpx.AsyncClient:
    """A logged-in client (clock frozen at NOW)."""
    response = await login(anonymous)
    assert response.status_code == 302
    return anonymous


async def week(
    client: httpx.AsyncClient, first: str = "2026-01-22", last: str = "2026-01-28"
) -> Any:
    """The calendar feed for a range of days, as the sync asks for it."""
    response = await client.get(
        "/appointments/getCalendarEventData",
        params={"start": f"{first} 00:00:00", "end": f"{last} 23:59:59"},
    )
    assert response.status_code == 200, response.text
    return response.json()


# --- the real server over HTTP (the trait tests) -----------------------------------------

XHR_HEADERS = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}
CSRF_INPUT = re.compile(r"name='_csrf' value='([^']+)'")
DRAWN_FORM = re.compile(r"atob\('([^']+)'\)")


@pytest.fixture(scope="module")
def live_server() -> Iterator[BackgroundSimulator]:
    """One real simulator (seed 7, standard profile) per test module."""
    with BackgroundSimulator(SimulatorConfig(seed=7)) as running:
        yield running


@pytest.fixture
def live(live_server: BackgroundSimulator) -> Iterator[httpx.Client]:
    """A client of the real server, after a reset (standard settings), clock frozen at NOW."""
    with httpx.Client(base_url=live_server.base_url, headers=XHR_HEADERS) as client:
        client.post("/__sim__/reset").raise_for_status()
        client.post("/__sim__/clock", json={"now": NOW}).raise_for_status()
        yield client


def change_settings(client: httpx.Client, **changes: Any) -> dict[str, Any]:
    """POST /__sim__/settings; the settings in force afterwards."""
    response = client.post("/__sim__/settings", json=changes)
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


def drawn_form(page: str) -> str:
    """The login page as it is once its script has drawn the form (loginFormDelayMs)."""
    encoded = DRAWN_FORM.search(page)
    return page if encoded is None else base64.b64decode(encoded.group(1)).decode()


def live_login(client: httpx.Client) -> httpx.Response:
    """Log in as a browser does: load the form, post it with any hidden `_csrf` it holds."""
    page = client.get("/login", headers={"Accept": "text/html"})
    token = CSRF_INPUT.search(drawn_form(page.text))
    fields = {**CREDENTIALS, **({"_csrf": token.group(1)} if token else {})}
    response = client.post("/login", data=fields)
    assert response.status_code == 302, response.text
    return response


def live_json(client: httpx.Client, path: str, **params: str) -> Any:
    """A 200 answer's body parsed as JSON whatever its content type says."""
    response = client.get(path, params=params)
    assert response.status_code == 200, response.text
    return json.loads(response.text)


def live_week(client: httpx.Client, first: str = "2026-01-20", last: str = "2026-01-26") -> Any:
    """The calendar feed over real HTTP."""
    return live_json(
        client,
        "/appointments/getCalendarEventData",
        start=f"{first} 00:00:00",
        end=f"{last} 23:59:59",
    )
