"""Webhook fixtures: a real receiver, services that may deliver to it, a running worker."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.cli.runtime import Runtime
from pims_sync.domain.clinics import Clinic
from pims_sync.settings import Settings, load_settings
from tests.integration.api.conftest import ENCRYPTION_KEY, client_for, insert_key
from tests.integration.webhooks.receiver import Receiver, ReceiverServer

# The test-only knobs (docs/webhooks.md): the schedule's waits at 1 % (5 s → 50 ms), and
# due deliveries looked for every 50 ms.
RETRY_SCALE = 0.01
POLL_SECONDS = 0.05


def webhook_settings(database_url: str, **overrides: object) -> Settings:
    """Settings for a process that delivers to the loopback receiver, fast."""
    values: dict[str, object] = {
        "database_url": database_url,
        "encryption_key": ENCRYPTION_KEY,
        "webhooks_allow_private": True,
        "webhooks_retry_scale": RETRY_SCALE,
        "webhooks_poll_seconds": POLL_SECONDS,
        "webhooks_timeout_seconds": 2,
        "run_stale_seconds": 4,
    }
    values.update(overrides)
    return load_settings(**values)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver on 127.0.0.1 answering 200 unless scripted otherwise."""
    with ReceiverServer() as state:
        yield state


@pytest.fixture
async def services(migrated_database_url: str) -> AsyncIterator[Services]:
    """Services on a migrated SQLite or Postgres database that may deliver to loopback."""
    built = build_services(webhook_settings(migrated_database_url))
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
async def clinic(services: Services) -> Clinic:
    """A clinic."""
    return await services.clinics.add(name="Happy Paws", timezone="America/Chicago")


@pytest.fixture
async def runtime(services: Services) -> AsyncIterator[Runtime]:
    """A worker (no scheduler): the delivery pump and the queue of this database."""
    running = Runtime(services, scheduler=False, worker=True)
    await running.start()
    try:
        yield running
    finally:
        await running.stop()


@pytest.fixture
async def api(services: Services, clinic: Clinic) -> AsyncIterator[httpx.AsyncClient]:
    """The API with a key of the clinic allowed to manage webhooks (`X-API-Key` set)."""
    _, key = await insert_key(services, clinic_id=clinic.id, permissions=["webhooks:manage"])
    async with client_for(create_app(services.settings, services)) as http:
        http.headers["X-API-Key"] = key
        yield http
