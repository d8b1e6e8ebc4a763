"""The whole service for end-to-end sync tests: simulator, real API over HTTP, a database.

The simulator's clock is frozen at SIM_NOW so its world (statuses, consultations, notes)
does not move while a test looks at it. The service's clock starts at the same instant
and then runs with real time (`SyncService(now=…)`): its "today" is the simulator's, and
its audit rows still get increasing timestamps. SIM_NOW sits just after a 15-minute slot
boundary, so the service's few minutes of drift never cross an appointment's start.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Self
from zoneinfo import ZoneInfo

import httpx
import uvicorn
from sqlalchemy import Engine, create_engine, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.sql import tables
from pims_sync.adapters.sql.engine import driver_url
from pims_sync.adapters.sql.session_cache import SqlSessionCache
from pims_sync.api.app import create_app
from pims_sync.api.server import server_config
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.retry import RetryPolicy
from pims_sync.settings import Settings
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from pims_sync.sync.service import SyncService

ZONE = ZoneInfo("America/Los_Angeles")
SIM_NOW = "2026-06-10 14:31:00"  # a Wednesday afternoon: past, running and future visits
TODAY = date(2026, 6, 10)
SIM_INSTANT = datetime(2026, 6, 10, 14, 31, tzinfo=ZONE)
ENCRYPTION_KEY = "e2e-sync-encryption-key-0123456789abcdef"
# Failures must fail fast in tests; the production policy waits seconds between attempts.
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.05, max_delay=0.2, max_retry_after=1.0)


def day_text(day: date) -> str:
    """YYYY-MM-DD."""
    return day.isoformat()


def service_clock() -> Callable[[], datetime]:
    """SIM_INSTANT now, then moving with real time."""
    started = time.monotonic()
    origin = SIM_INSTANT.astimezone(UTC)
    return lambda: origin + timedelta(seconds=time.monotonic() - started)


def wall_to_utc(text: str) -> datetime:
    """A simulator wall-clock time (clinic zone) as the true instant, in UTC."""
    return datetime.strptime(text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZONE).astimezone(UTC)


class SimControl:
    """The simulator's `/__sim__/` control API."""

    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=f"{base_url}/__sim__", timeout=10)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.http.post(path, json=body or {})
        assert response.status_code < 300, response.text
        return response.json()

    def freeze(self) -> None:
        self.post("/clock", {"now": SIM_NOW, "frozen": True})

    def reset(self) -> None:
        """The generated world again (changes, faults, settings gone), clock frozen again."""
        self.post("/reset")
        self.freeze()

    def appointments(self, first: date, last: date) -> list[dict[str, Any]]:
        """The appointments (no blocks, no rosters) the feed lists for these days."""
        events = self.http.get(
            "/appointments", params={"start": day_text(first), "end": day_text(last)}
        ).json()
        return [e for e in events if not e["is_block"] and not e["is_roster"]]

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self.http.get("/stats").json()
        return result


class Database:
    """Read what the service wrote (a synchronous engine next to the server's own)."""

    def __init__(self, url: str) -> None:
        self.engine: Engine = create_engine(driver_url(url, asynchronous=False))

    def cases(self, clinic_id: uuid.UUID) -> dict[str, dict[str, Any]]:
        """The clinic's cases by external id, each with its `patient` row."""
        query = (
            select(tables.cases, tables.patients)
            .join(tables.patients, tables.patients.c.case_id == tables.cases.c.id)
            .where(tables.cases.c.clinic_id == clinic_id)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        found: dict[str, dict[str, Any]] = {}
        for row in rows:
            patient_columns = ("name", "species", "breed", "owner_name", "owner_phone")
            patient = {k: row[tables.patients.c[k]] for k in (*patient_columns, "owner_email")}
            case = {k: row[tables.cases.c[k]] for k in tables.cases.c.keys()}  # noqa: SIM118
            found[case["external_id"]] = {**case, "patient": patient}
        return found

    def audits(self, run_id: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """A run's audit row and its children's."""
        audits = tables.case_sync_audits
        with self.engine.connect() as conn:
            top = conn.execute(select(audits).where(audits.c.id == uuid.UUID(run_id)))
            children = conn.execute(
                select(audits).where(audits.c.parent_id == uuid.UUID(run_id))
            ).mappings()
            return dict(top.mappings().one()), [dict(c) for c in children]

    def set_metadata(self, case_id: uuid.UUID, metadata: dict[str, Any]) -> None:
        """What another writer (enrichment elsewhere, a CRM) does to a case."""
        with self.engine.begin() as conn:
            conn.execute(
                tables.cases.update().where(tables.cases.c.id == case_id).values(metadata=metadata)
            )


# Told the server's database engine before it serves (e.g. to inject write failures).
EngineHook = Callable[[AsyncEngine], None]


class ThreadedApi:
    """The real FastAPI app under uvicorn in a thread; a subclass builds its services."""

    def __init__(self, settings: Settings, name: str = "pims-sync-api") -> None:
        self.settings = settings
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Nagle off (accepted connections inherit it): else each answer waits ~40 ms.
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.base_url = f"http://127.0.0.1:{self._socket.getsockname()[1]}"
        self._server: uvicorn.Server | None = None
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    async def build(self) -> Services:
        """The services the app serves, built in the server's own loop."""
        raise NotImplementedError

    def _run(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        services = await self.build()
        # The production configuration (limits, request deadline), quieter logs.
        app = create_app(self.settings, services)
        config = server_config(app, self.settings, log_level="warning")
        self._server = uvicorn.Server(config)
        try:
            await self._server.serve(sockets=[self._socket])
        finally:
            await services.aclose()

    def start(self) -> Self:
        """Start serving; return once uvicorn listens."""
        self._thread.start()
        deadline = time.monotonic() + 30
        while self._server is None or not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the API server did not start")
            time.sleep(0.02)
        return self

    def stop(self) -> None:
        """Stop uvicorn (running syncs are stopped by the services' close)."""
        if self._server is not None:
            self._server.should_exit = True
        self._thread.join(timeout=30)
        self._socket.close()


class ApiServer(ThreadedApi):
    """The service against the simulator: real provider, aligned sync clock."""

    def __init__(self, settings: Settings, engine_hook: EngineHook | None = None) -> None:
        super().__init__(settings)
        self._engine_hook = engine_hook

    async def build(self) -> Services:
        """Services with a fast-retrying IdexxProvider and the aligned clock."""
        # Built in the server's own loop: the engine and the browser belong to it.
        settings = self.settings
        services = build_services(settings)
        if self._engine_hook is not None:
            self._engine_hook(services.engine)
        options = IdexxOptions.from_settings(settings, retry=FAST_RETRY)
        cache = SqlSessionCache(services.engine, settings.require_encryption_key())
        services.pims_provider = IdexxProvider(
            options, session_cache=cache, metrics=services.metrics
        )
        clock = service_clock()
        services.sync_service = SyncService(
            clinics=services.clinics,
            credentials=services.vault,
            provider=services.provider,
            cases=services.cases,
            runs=services.runs,
            metrics=services.metrics,
            timeout_seconds=settings.sync_timeout_ms / 1000,
            now=clock,
            mirror=services.mirror,
        )
        # Availability on the same clock: its "today" and the mirror's stamps agree.
        services.availability_desk = services.availability_on(clock)
        # Booking writes too: their holds, notice and horizon are the simulator's today's.
        services.booking_desk = services.bookings_on(clock)
        return services


async def _create_clinic(settings: Settings, sim: BackgroundSimulator) -> tuple[uuid.UUID, str]:
    """A clinic with credentials pointing at the simulator and a full-access API key."""
    services = build_services(settings)
    try:
        clinic = await services.clinics.add(name="E2E Clinic", timezone=str(ZONE))
        config = sim.config
        credentials = PimsCredentials(
            username=config.username,
            password=config.password,
            company_id=config.company_ids()[0],
            base_url=sim.base_url,
        )
        await services.vault.save(clinic.id, credentials)
        _, key = await services.api_keys.create(clinic_id=clinic.id, name="e2e")
    finally:
        await services.aclose()
    return clinic.id, key


@dataclass
class Stack:
    """One backend's running service, its simulator and the clinic the tests sync."""

    sim: BackgroundSimulator
    control: SimControl
    api: httpx.Client
    db: Database
    clinic_id: uuid.UUID

    def sync(self, kind: str, **body: Any) -> httpx.Response:
        """POST /api/sync/<kind> synchronously."""
        return self.api.post(f"/api/sync/{kind}", json=body)

    def cases(self) -> dict[str, dict[str, Any]]:
        return self.db.cases(self.clinic_id)


@dataclass
class StackOptions:
    """What differs between a test stack and a benchmark's."""

    rate_limit_per_second: float = 50.0
    max_concurrency: int = 5
    seed: int = 42
    engine_hook: EngineHook | None = None
    profile: str = "standard"
    # An availability call waits this long for the PIMS (a cold Chromium login included).
    refresh_deadline_seconds: float = 60.0


def running_stack(database_url: str, options: StackOptions | None = None) -> Iterator[Stack]:
    """Start simulator and API, create the clinic; stop everything afterwards."""
    options = options or StackOptions()
    settings = Settings(
        database_url=database_url,
        encryption_key=ENCRYPTION_KEY,
        pims_rate_limit_per_second=options.rate_limit_per_second,
        pims_max_concurrency=options.max_concurrency,
        enable_scheduler=False,
        availability_refresh_deadline_seconds=options.refresh_deadline_seconds,
    )
    config = SimulatorConfig(seed=options.seed, timezone=str(ZONE), profile=options.profile)
    with BackgroundSimulator(config) as sim:
        control = SimControl(sim.base_url)
        control.freeze()
        clinic_id, key = asyncio.run(_create_clinic(settings, sim))
        server = ApiServer(settings, options.engine_hook)
        server.start()
        timeout = httpx.Timeout(120.0)
        api = httpx.Client(base_url=server.base_url, headers={"X-API-Key": key}, timeout=timeout)
        db = Database(database_url)
        try:
            yield Stack(sim, control, api, db, clinic_id)
        finally:
            api.close()
            server.stop()
            db.engine.dispose()
            control.http.close()
