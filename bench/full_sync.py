"""Benchmark a full sync of one clinic against the simulator at IDEXX-like latency, on Postgres.

Run: .venv/bin/python -m bench.full_sync [--latency-ms 300] [--lookback-days 7] [--days-ahead 7]
                                         [--database-url URL] [--profile standard|wild]

It drives `SyncService` in this process (the pipeline the API and the CLI call; the HTTP
layer adds nothing to a sync's time), with the production pacing: PIMS_MAX_CONCURRENCY and
PIMS_RATE_LIMIT_PER_SECOND (defaults 5 and 10/s). Without --database-url it uses the
Postgres server of PIMS_SYNC_TEST_POSTGRES_URL (or postgresql://postgres@127.0.0.1:5432/
postgres) in a throwaway database it creates and drops.

The simulator's clock is frozen at --sim-now (a Wednesday evening, so today's visits are
over and the lookback holds ~300 consultations); the service's clock starts there too.
It prints the first run's time against the ideal, the inbound phase's database time, then
a second run with nothing changed: what it fetched again and what it wrote (nothing).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx

from bench.inbound_writes import DEFAULT_SERVER, throwaway_postgres
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.runs import SyncType
from pims_sync.logs import ContextFilter
from pims_sync.ports.provider import ClinicLogin, PimsProvider, PimsSession
from pims_sync.ports.store import CasePlan, CaseStore, StoredCase
from pims_sync.settings import Settings
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from pims_sync.sync.outcomes import FullOutcome
from pims_sync.sync.request import SyncRequest
from pims_sync.sync.service import SyncService

ZONE = "America/Los_Angeles"
RATIO_BAR = 1.2
WRITE_BAR_SECONDS = 1.0
# Endpoints of the login itself (form, post, landing page): the fixed cost outside pacing.
LOGIN_ENDPOINTS = frozenset({"login-page", "login", "home"})


def current_phase() -> str:
    """The phase the pipeline's log context names (set by each phase while it runs)."""
    record = logging.LogRecord("bench", logging.INFO, "", 0, "", None, None)
    ContextFilter().filter(record)
    return str(getattr(record, "phase", "?"))


@dataclass
class TimedStore:
    """The case store, timing each `apply` (one batch: read, plan, upsert, commit)."""

    inner: CaseStore
    applies: list[tuple[str, int, float]] = field(default_factory=list)

    async def cases_between(self, **kwargs: Any) -> list[StoredCase]:
        return await self.inner.cases_between(**kwargs)

    async def get_many(self, **kwargs: Any) -> Mapping[str, StoredCase]:
        return await self.inner.get_many(**kwargs)

    async def apply(self, *, clinic_id: UUID, external_ids: Sequence[str], plan: CasePlan) -> Any:
        started = time.perf_counter()
        result = await self.inner.apply(clinic_id=clinic_id, external_ids=external_ids, plan=plan)
        self.applies.append((current_phase(), len(external_ids), time.perf_counter() - started))
        return result

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


@dataclass
class TimedProvider:
    """The provider, timing how long opening a session (the login) takes."""

    inner: PimsProvider
    logins: list[float] = field(default_factory=list)

    @asynccontextmanager
    async def session(self, login: ClinicLogin) -> AsyncIterator[PimsSession]:
        started = time.perf_counter()
        async with self.inner.session(login) as session:
            self.logins.append(time.perf_counter() - started)
            yield session

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def aligned_clock(sim_now: datetime) -> Callable[[], datetime]:
    """The simulator's frozen instant, then moving with real time."""
    started = time.monotonic()
    return lambda: sim_now.astimezone(UTC) + timedelta(seconds=time.monotonic() - started)


@dataclass
class Bench:
    """What one benchmark run set up."""

    services: Services
    service: SyncService
    store: TimedStore
    provider: TimedProvider
    control: httpx.Client
    clinic_id: UUID


async def set_up(settings: Settings, sim: BackgroundSimulator, sim_now: datetime) -> Bench:
    """The clinic, its credentials, and a SyncService over timed store and provider."""
    services = build_services(settings)
    clinic = await services.clinics.add(name="Bench Clinic", timezone=ZONE)
    config = sim.config
    credentials = PimsCredentials(
        username=config.username,
        password=config.password,
        company_id=config.company_ids()[0],
        base_url=sim.base_url,
    )
    await services.vault.save(clinic.id, credentials)
    store, provider = TimedStore(services.cases), TimedProvider(services.provider)
    service = SyncService(
        clinics=services.clinics,
        credentials=services.vault,
        provider=provider,
        cases=store,  # type: ignore[arg-type]
        runs=services.runs,
        metrics=services.metrics,
        timeout_seconds=settings.sync_timeout_ms / 1000,
        now=aligned_clock(sim_now),
    )
    control = httpx.Client(base_url=f"{sim.base_url}/__sim__", timeout=30)
    return Bench(services, service, store, provider, control, clinic.id)


async def full_run(bench: Bench, args: argparse.Namespace) -> tuple[FullOutcome, float]:
    """One full sync; its outcome and wall time."""
    request = SyncRequest(
        clinic_id=bench.clinic_id,
        sync_type=SyncType.FULL,
        days_ahead=args.days_ahead,
        lookback_days=args.lookback_days,
    )
    started = time.perf_counter()
    outcome = await bench.service.run(request)
    elapsed = time.perf_counter() - started
    assert isinstance(outcome, FullOutcome)
    if not outcome.success:
        raise SystemExit(f"the full sync failed: {outcome.result().wire()}")
    return outcome, elapsed


def requests_by_endpoint(control: httpx.Client) -> dict[str, int]:
    """The simulator's request counts per endpoint, since the last reset."""
    endpoints = control.get("/stats").json()["endpoints"]
    return {name: int(stat["requests"]) for name, stat in sorted(endpoints.items())}


def print_first(
    args: argparse.Namespace, settings: Settings, outcome: FullOutcome, elapsed: float, bench: Bench
) -> float:
    """The first run against the ideal; returns the ratio."""
    counts = requests_by_endpoint(bench.control)
    paced = sum(n for name, n in counts.items() if name not in LOGIN_ENDPOINTS)
    rate, concurrency = settings.pims_rate_limit_per_second, settings.pims_max_concurrency
    latency = float(args.latency_ms) / 1000
    login = bench.provider.logins[0]
    ideal = max(paced / rate, paced * latency / concurrency) + login
    ratio = elapsed / ideal
    inbound, cases = outcome.inbound.stats, outcome.cases.stats
    print(
        f"full sync, {args.lookback_days} days back + today + {args.days_ahead} ahead, "
        f"latency {args.latency_ms} ms, concurrency {concurrency}, rate {rate:g}/s"
    )
    print(
        f"  appointments {inbound.appointments_found}, cases created {inbound.cases_created}, "
        f"consultations fetched {cases.cases_found} (enriched {cases.cases_enriched})"
    )
    print(f"  requests sent (simulator stats): {counts}")
    print(f"  paced requests (all but the login's): {paced}")
    print(f"  cold login (Chromium + login form):   {login:6.2f} s")
    print(f"  total full-sync time:                 {elapsed:6.2f} s")
    print(
        f"  ideal = max({paced}/{rate:g}, {paced}x{latency:g}/{concurrency}) + login"
        f" = {ideal:6.2f} s"
    )
    print(f"  ratio total/ideal:                    {ratio:6.3f}  (bar <= {RATIO_BAR})")
    return ratio


def print_writes(bench: Bench) -> float:
    """The inbound phase's `CaseStore.apply` calls; returns their total time."""
    inbound = [(n, s) for phase, n, s in bench.store.applies if phase == "inbound"]
    total = sum(s for _, s in inbound)
    print("  inbound database writes (CaseStore.apply, one per batch):")
    for i, (n, seconds) in enumerate(inbound, 1):
        print(f"    batch {i}: {n:4d} appointments  {seconds * 1000:7.1f} ms")
    written = sum(n for n, _ in inbound)
    print(
        f"    total:   {written:4d} appointments  {total * 1000:7.1f} ms"
        f"  (bar < {WRITE_BAR_SECONDS:g} s)"
    )
    return total


def print_second(outcome: FullOutcome, elapsed: float, bench: Bench) -> bool:
    """The unchanged second run: what it fetched and wrote; True if it wrote nothing."""
    counts = requests_by_endpoint(bench.control)
    inbound, cases = outcome.inbound.report.stats, outcome.cases.report.stats
    print(f"second run, nothing changed: {elapsed:6.2f} s")
    reuse = bench.provider.logins[-1]
    print(f"  requests by endpoint: {counts}")
    print(f"  PIMS logins: {counts.get('login', 0)} (cached session reopened in {reuse:.2f} s)")
    print(
        f"  consultations fetched again: {cases.cases_found} (the not-yet-final ones),"
        f" page-data requests {counts.get('page-data', 0)}"
    )
    print(f"  cases created {inbound.cases_created}, updated {inbound.cases_updated}")
    return inbound.cases_created == inbound.cases_updated == 0


async def bench_full_sync(args: argparse.Namespace, database_url: str) -> bool:
    """Both runs on one database; True when every bar is met."""
    upgrade_database(database_url)
    settings = Settings(database_url=database_url, encryption_key="bench-" + "k" * 32)
    sim_now = datetime.strptime(args.sim_now, "%Y-%m-%d %H:%M:%S").replace(tzinfo=ZoneInfo(ZONE))
    config = SimulatorConfig(seed=42, timezone=ZONE, profile=args.profile)
    print(f"simulator profile: {args.profile}")
    with BackgroundSimulator(config) as sim:
        bench = await set_up(settings, sim, sim_now)
        try:
            bench.control.post("/clock", json={"now": args.sim_now, "frozen": True})
            bench.control.post("/settings", json={"latencyMs": args.latency_ms})
            bench.control.post("/stats/reset")
            outcome, elapsed = await full_run(bench, args)
            ratio = print_first(args, settings, outcome, elapsed, bench)
            writes = print_writes(bench)
            bench.control.post("/stats/reset")
            again, elapsed = await full_run(bench, args)
            unchanged = print_second(again, elapsed, bench)
        finally:
            bench.control.close()
            await bench.services.aclose()
    return ratio <= RATIO_BAR and writes < WRITE_BAR_SECONDS and unchanged


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--lookback-days", type=int, default=7)
    parser.add_argument("--days-ahead", type=int, default=7)
    parser.add_argument("--sim-now", default="2026-06-10 20:01:00")
    parser.add_argument("--database-url", help="default: a throwaway Postgres database")
    parser.add_argument("--profile", choices=["standard", "wild"], default="standard")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.database_url:
        ok = asyncio.run(bench_full_sync(args, args.database_url))
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            ok = asyncio.run(bench_full_sync(args, url))
    print("all bars met" if ok else "SOME BAR MISSED")
    raise SystemExit(0 if ok else 1)


if __name__ == "__main__":
    main()
