"""Freshness and self-protection against the simulator, with real Chromium logins.

On SQLite and Postgres: the status flips `fresh → failing` while the simulator is down
and back to `fresh` when it returns (one `clinic.freshness_changed` each way); a refused
password pauses the clinic after one login and nothing logs in again (not the scheduler,
not another run) until new credentials resume it; the login budget refuses the 13th
login of a day before a browser opens.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest
from typer.testing import CliRunner

from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.bootstrap import Services, build_services
from pims_sync.cli.app import app as cli_app
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.freshness import Freshness
from pims_sync.domain.outbox import EventType
from pims_sync.domain.runs import RunStatus, SyncType, Trigger
from pims_sync.errors import ClinicPausedError, PimsAuthError, PimsLoginBudgetExhaustedError
from pims_sync.ports.queue import SyncJob
from pims_sync.scheduling.scheduler import Scheduler
from pims_sync.settings import load_settings
from pims_sync.simulator.config import DEFAULTS
from pims_sync.simulator.server import BackgroundSimulator
from pims_sync.sync.request import request_from_options
from tests.integration.idexx.harness import SimulatorControl, idexx_options
from tests.integration.scheduling.harness import free_port

pytestmark = pytest.mark.browser

KEY = "freshness-test-encryption-key-0123456789"
# Small windows: a run is one calendar read and today's consultations.
SMALL = {"daysAhead": 0, "lookbackDays": 0}


class Pims:
    """A simulator that can be stopped and started again on the same port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.running: BackgroundSimulator | None = None
        self.start()

    @property
    def base_url(self) -> str:
        """Where it listens, running or not."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Listen again (a new simulation: its sessions are new too)."""
        self.running = BackgroundSimulator(port=self.port).start()

    def stop(self) -> None:
        """Stop listening: connections are refused."""
        assert self.running is not None
        self.running.stop()
        self.running = None

    def stats(self) -> dict[str, Any]:
        """The simulation's counts (logins, login failures, requests)."""
        control = SimulatorControl(self.base_url)
        try:
            return control.stats()
        finally:
            control.close()


@dataclass
class World:
    """Services on a real database, the IDEXX provider, the simulator, one clinic."""

    services: Services
    pims: Pims
    clinic: UUID
    url: str

    async def run(self, sync_type: SyncType = SyncType.FULL) -> Any:
        """A run as the API or the CLI starts one (they share SyncService.start)."""
        request = request_from_options(self.clinic, sync_type, Trigger.API, SMALL)
        return await self.services.sync.run(request)

    async def freshness_changes(self) -> list[tuple[str | None, str]]:
        """(previousStatus, status) of every `clinic.freshness_changed`, in order."""
        events = await self.services.events.after(clinic_id=self.clinic, after_seq=0, limit=500)
        return [
            (e.payload["previousStatus"], e.payload["status"])
            for e in events
            if e.type is EventType.CLINIC_FRESHNESS_CHANGED
        ]

    async def status(self) -> Freshness:
        """The clinic's status now."""
        [found] = await self.services.health.freshness(
            at=datetime.now(UTC), clinic_ids=[self.clinic]
        )
        return found.status


@pytest.fixture
def pims() -> Iterator[Pims]:
    simulator = Pims()
    yield simulator
    if simulator.running is not None:
        simulator.stop()


@pytest.fixture
async def world(migrated_database_url: str, pims: Pims) -> AsyncIterator[World]:
    services = build_services(load_settings(database_url=migrated_database_url, encryption_key=KEY))
    # No session cache: every run logs in, as the login budget counts.
    services.pims_provider = IdexxProvider(idexx_options(pims.base_url))
    clinic = await services.clinics.add(name="Fresh Paws", timezone=DEFAULTS.timezone)
    await services.vault.save(clinic.id, _credentials(pims, DEFAULTS.password))
    try:
        yield World(services, pims, clinic.id, migrated_database_url)
    finally:
        await services.aclose()


def _credentials(pims: Pims, password: str) -> PimsCredentials:
    return PimsCredentials(
        username=DEFAULTS.username,
        password=password,
        company_id=str(DEFAULTS.company_id),
        base_url=pims.base_url,
    )


async def test_fresh_then_failing_while_the_pims_is_down_then_fresh_again(world: World) -> None:
    assert (await world.run()).success
    assert await world.status() is Freshness.FRESH
    world.pims.stop()
    with pytest.raises(Exception):  # noqa: B017 - how the login fails is not the point
        await world.run()
    assert await world.status() is Freshness.FAILING
    # The scheduler's periodic check sees no new change: nothing is announced twice.
    await world.services.health.reassess(at=datetime.now(UTC))
    world.pims.start()
    assert (await world.run()).success
    await world.services.health.reassess(at=datetime.now(UTC))
    assert await world.status() is Freshness.FRESH
    assert await world.freshness_changes() == [
        (None, "fresh"),
        ("fresh", "failing"),
        ("failing", "fresh"),
    ]
    health = await world.services.health.health(world.clinic)
    assert health.consecutive_failures == 0


class Recorded:
    """A job queue that only records what the scheduler queues."""

    def __init__(self) -> None:
        self.jobs: list[SyncJob] = []

    async def enqueue(self, job: SyncJob) -> None:
        self.jobs.append(job)

    async def recover_stalled(self) -> list[SyncJob]:
        return []


async def test_a_refused_password_pauses_after_one_login_until_new_credentials(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    services = world.services
    await services.vault.save(world.clinic, _credentials(world.pims, "not-the-password"))
    await services.schedules.put(world.clinic, [{"type": "inbound", "cron": "*/5 * * * *"}])
    with pytest.raises(PimsAuthError):
        await world.run(SyncType.INBOUND)
    assert await world.status() is Freshness.PAUSED
    # Nothing tries the password again: another run is refused, the schedule does not fire.
    with pytest.raises(ClinicPausedError, match="is paused"):
        await world.run(SyncType.INBOUND)
    queue = Recorded()
    start = datetime.now(UTC)
    clock = iter([start, start + timedelta(minutes=30)])
    scheduler = Scheduler(
        schedules=services.schedules,
        fires=services.fires,
        runs=services.runs,
        queue=queue,
        recovery=services.recovery,
        now=lambda: next(clock),
        health=services.health,
    )
    assert (await scheduler.tick()).paused == 1  # the first tick catches up an hour
    assert (await scheduler.tick()).paused == 1
    assert queue.jobs == []
    stats = world.pims.stats()
    assert (stats["logins"], stats["loginFailures"]) == (0, 1)
    events = await services.events.after(clinic_id=world.clinic, after_seq=0, limit=100)
    assert EventType.CLINIC_PAUSED in [e.type for e in events]

    # New credentials resume the clinic, and the next run logs in and succeeds.
    monkeypatch.chdir(tmp_path)
    # The command runs its own event loop: in a thread, as it would in its own process.
    result = await asyncio.to_thread(
        CliRunner().invoke,
        cli_app,
        [
            "credentials",
            "set",
            "--clinic",
            str(world.clinic),
            "--username",
            DEFAULTS.username,
            "--company-id",
            str(DEFAULTS.company_id),
            "--base-url",
            world.pims.base_url,
        ],
        input=f"{DEFAULTS.password}\n",
        env={"DATABASE_URL": world.url, "ENCRYPTION_KEY": KEY, "ENCRYPTION_KEY_PREVIOUS": None},
    )
    assert result.exit_code == 0, result.output
    assert "resumed" in result.output
    assert (await services.health.health(world.clinic)).consecutive_failures == 0
    assert (await world.run(SyncType.INBOUND)).success
    assert world.pims.stats()["logins"] == 1
    resumed = await services.events.after(clinic_id=world.clinic, after_seq=0, limit=100)
    assert [e.payload["resumedBy"] for e in resumed if e.type is EventType.CLINIC_RESUMED] == [
        "new credentials"
    ]


async def test_the_login_budget_refuses_the_thirteenth_login_of_the_day(world: World) -> None:
    for _ in range(12):
        assert (await world.run(SyncType.INBOUND)).success
    with pytest.raises(PimsLoginBudgetExhaustedError, match="daily budget of 12 PIMS logins"):
        await world.run(SyncType.INBOUND)
    stats = world.pims.stats()
    assert stats["logins"] == 12
    assert stats["endpoints"]["login-page"]["requests"] == 12  # the 13th never loaded it
    assert await world.services.ledger.logins(world.clinic, datetime.now(UTC).date()) == 12
    [last] = await world.services.runs.history(clinic_id=world.clinic, limit=1)
    assert last.status is RunStatus.FAILED
    assert last.result is not None
    assert last.result["code"] == "pims_login_budget_exhausted"
    # The service's own refusal is not the clinic's failure.
    assert (await world.services.health.health(world.clinic)).consecutive_failures == 0
