"""Availability latency through the HTTP API: 14 days of a busy clinic, p50/p95.

Run: .venv/bin/python -m bench.availability [--requests 400] [--database-url URL]

The mirror holds four weeks of the simulator's calendar for one clinic (its generated
days: 37-41 appointments, 1-2 blocks and 2 rosters a day over 5 columns, each day topped
up to 45 appointments with copies of its own at other times and columns), read through
the real calendar parser and written by the real mirror store (four weeks: `next` looks
at the 14 days from its `after`, and all must be fresh);
the clinic is open 08:00-19:00 every day with 15-minute slots and 5-minute buffers. The
real app then serves under uvicorn in a thread (the production server configuration),
and one keep-alive client asks, one request after another, `GET /api/availability` for
the 14 days (30-minute visits), and `GET /api/availability/next` for the next 3 slots
after each day's 10:00. Printed per database (a throwaway Postgres on
PIMS_SYNC_TEST_POSTGRES_URL's server, then SQLite): events mirrored, slots answered,
p50, p95, p99 and max latency, and whether p95 is under the 50 ms bar. The mirror is
fresh (read a moment before), so no request reaches the PIMS.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from tests.e2e.sync_stack import ThreadedApi

from bench.inbound_writes import DEFAULT_SERVER, throwaway_postgres
from pims_sync.adapters.idexx.parsing import parse_calendar
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.booking import parse_rules
from pims_sync.domain.mirror import MirrorListing
from pims_sync.settings import Settings
from pims_sync.simulator.app import create_app as create_simulator
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.feeds import calendar_events

ZONE = ZoneInfo("America/Los_Angeles")
DAYS = 14
MIRRORED_DAYS = 28
APPOINTMENTS_A_DAY = 45
BAR_MS = 50.0
KEY = "bench-availability-encryption-key-0123456789"
RULES = {
    "openingHours": {
        day: ["08:00-19:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    },
    "bufferBeforeMinutes": 5,
    "bufferAfterMinutes": 5,
}


class Served(ThreadedApi):
    """The real app on the benchmark's database."""

    async def build(self) -> Services:
        """Plain services: the mirror is already written."""
        return build_services(self.settings)


def simulator_days(first: date) -> list[dict[str, Any]]:
    """The simulator's calendar events of the mirrored days, 45 appointments a day."""
    simulation = create_simulator(SimulatorConfig(seed=7, timezone=str(ZONE))).state.simulation
    clinic = simulation.world.clinics[0]
    start = datetime.combine(first, datetime.min.time())
    end = start + timedelta(days=MIRRORED_DAYS) - timedelta(seconds=1)
    events: list[dict[str, Any]] = list(calendar_events(simulation, clinic, start, end))
    rng = random.Random(7)
    for offset in range(MIRRORED_DAYS):
        day = str(first + timedelta(days=offset))
        visits = [e for e in events if e["start"].startswith(day) and not e["is_block"]]
        visits = [e for e in visits if not e["is_roster"]]
        for number in range(APPOINTMENTS_A_DAY - len(visits)):
            events.append(_copy(rng.choice(visits), offset * 100 + number, rng))
    return events


def _copy(event: dict[str, Any], number: int, rng: random.Random) -> dict[str, Any]:
    """Another appointment like `event`, at another quarter hour and column of its day."""
    day = datetime.strptime(event["start"][:10], "%Y-%m-%d")  # noqa: DTZ007 - wall clock
    start = day + timedelta(hours=8, minutes=15 * rng.randint(0, 42))
    end = start + timedelta(minutes=rng.choice((15, 30, 45)))
    extra_id = 9_000_000 + number
    column = rng.choice(("6", "7", "8", "9"))
    wall = "%Y-%m-%d %H:%M:%S"
    return {
        **event,
        "id": extra_id,
        "appointment_id": extra_id,
        "start": start.strftime(wall),
        "end": end.strftime(wall),
        "resourceId": column,
        "appointment_room_id": int(column),
    }


async def seed(settings: Settings, first: date) -> tuple[str, str, int]:
    """A clinic, its rules, a key, and its mirror of the 14 days; (clinic id, key, events)."""
    services = build_services(settings)
    try:
        clinic = await services.clinics.add(name="Busy Clinic", timezone=str(ZONE))
        now = datetime.now(UTC)
        await services.booking.put(clinic.id, parse_rules(RULES), at=now)
        _, key = await services.api_keys.create(clinic_id=clinic.id, name="bench")
        start = datetime.combine(first, datetime.min.time(), tzinfo=ZONE).astimezone(UTC)
        end = start + timedelta(days=MIRRORED_DAYS)
        page = parse_calendar(simulator_days(first), ZONE, window=(start, end))
        listing = MirrorListing.of(page, start, end)
        days = [first + timedelta(days=n) for n in range(MIRRORED_DAYS)]
        await services.mirror.record(clinic_id=clinic.id, listing=listing, days=days, now=now)
        return str(clinic.id), key, len(listing.entries)
    finally:
        await services.aclose()


def measure(base_url: str, key: str, first: date, requests: int) -> tuple[list[float], int]:
    """Latencies (ms) of `requests` calls, the two kinds alternating; slots of the last."""
    latencies: list[float] = []
    slots = 0
    with httpx.Client(base_url=base_url, headers={"X-API-Key": key}, timeout=30) as http:
        for number in range(requests + 20):  # the first 20 warm the pools up
            if number % 2 == 0:
                params = {"date": str(first), "days": str(DAYS), "duration": "30"}
                path = "/api/availability"
            else:
                day = first + timedelta(days=number % DAYS)
                after = datetime.combine(day, datetime.min.time(), tzinfo=ZONE) + timedelta(
                    hours=10
                )
                params, path = {"after": after.isoformat(), "count": "3"}, "/api/availability/next"
            started = time.perf_counter()
            response = http.get(path, params=params)
            elapsed = (time.perf_counter() - started) * 1000
            if response.status_code != 200:
                raise SystemExit(f"{path}: {response.status_code} {response.text[:300]}")
            if number >= 20:
                latencies.append(elapsed)
            if path == "/api/availability":
                slots = sum(len(day["slots"]) for day in response.json()["days"])
    return latencies, slots


def bench_database(url: str, label: str, requests: int) -> bool:
    """Seed, serve, measure and print one database's figures; whether the bar was met."""
    upgrade_database(url)
    settings = Settings(database_url=url, encryption_key=KEY, enable_scheduler=False)
    first = datetime.now(ZONE).date() + timedelta(days=1)
    _, key, events = asyncio.run(seed(settings, first))
    server = Served(settings, name="bench-availability").start()
    try:
        latencies, slots = measure(server.base_url, key, first, requests)
    finally:
        server.stop()
    cuts = statistics.quantiles(latencies, n=100)
    p50, p95, p99 = statistics.median(latencies), cuts[94], cuts[98]
    met = p95 < BAR_MS
    print(
        f"{label}: {events} events mirrored over {MIRRORED_DAYS} days; "
        f"{slots} slots in a {DAYS}-day answer; "
        f"{len(latencies)} requests\n"
        f"  p50 {p50:6.1f} ms   p95 {p95:6.1f} ms   p99 {p99:6.1f} ms   "
        f"max {max(latencies):6.1f} ms   (bar: p95 < {BAR_MS:.0f} ms: {'met' if met else 'MISSED'})"
    )
    return met


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--requests", type=int, default=400)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    print(
        "GET /api/availability (14 days) and /next (3 slots), alternating, "
        f"{args.requests} requests\n"
    )
    if args.database_url:
        ok = bench_database(args.database_url, "given database", args.requests)
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            ok = bench_database(url, "Postgres", args.requests)
        with tempfile.TemporaryDirectory() as tmp:
            ok = (
                bench_database(f"sqlite:///{Path(tmp) / 'bench.db'}", "SQLite", args.requests)
                and ok
            )
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
