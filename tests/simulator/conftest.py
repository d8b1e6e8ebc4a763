"""Fixtures: an in-process simulator (httpx over ASGI) with a frozen clock, logged in or not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette

from pims_sync.simulator.app import create_app
from pims_sync.simulator.config import SimulatorConfig
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
