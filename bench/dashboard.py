"""Benchmark the dashboard's clinics overview: server time of the page with 200 clinics.

Run: .venv/bin/python -m bench.dashboard [--database-url URL] [--clinics 200] [--days 7]
     [--runs-per-day 4] [--cases 100]
Each clinic gets `days × runs-per-day` full runs (each with its three phase rows), an
inbound schedule and `cases` cases over the next week. A service key signs in and
`GET /dashboard/clinics` (the whole page) and `/dashboard/clinics/table` (what it reloads
every 15 s) are timed in-process (no network: the server's own time), best and median of
seven. The bar: under 300 ms for 200 clinics. Postgres (given, or a throwaway database on
PIMS_SYNC_TEST_POSTGRES_URL's server), then SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import insert

from bench.inbound_writes import DEFAULT_SERVER, throwaway_postgres
from pims_sync.adapters.sql.migrate import display_url, upgrade_database
from pims_sync.adapters.sql.tables import case_sync_audits, cases
from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.settings import load_settings

PHASES = ("inbound", "cases", "reconciliation")
BATCH = 5000
BAR_MS = 300.0


def _runs(clinic: UUID, now: datetime, days: int, per_day: int) -> list[dict[str, Any]]:
    """A clinic's week: completed full runs, each with its three phase rows."""
    rows: list[dict[str, Any]] = []
    step = timedelta(days=1) / per_day
    for n in range(days * per_day):
        started = now - (n + 1) * step
        ended = started + timedelta(seconds=40)
        parent = uuid.uuid4()
        common = {"clinic_id": clinic, "status": "completed", "triggered_by": "scheduler"}
        common |= {"started_at": started, "completed_at": ended}
        rows.append({"id": parent, "sync_type": "full"} | common)
        rows += [{"id": uuid.uuid4(), "sync_type": p, "parent_id": parent} | common for p in PHASES]
    return rows


def _cases(clinic: UUID, now: datetime, count: int) -> list[dict[str, Any]]:
    """`count` cases spread over the next week."""
    step = timedelta(days=7) / max(count, 1)
    return [
        {"id": uuid.uuid4(), "clinic_id": clinic, "external_id": f"appt-{n}"}
        | {"source": "pims:idexx_neo", "scheduled_at": now + n * step}
        for n in range(count)
    ]


async def _seed(services: Services, args: argparse.Namespace, now: datetime) -> int:
    """The clinics, their runs, schedules and cases; how many audit rows."""
    ids = [(await services.clinics.add(name=f"Clinic {n}")).id for n in range(args.clinics)]
    rows: list[dict[str, Any]] = []
    upcoming: list[dict[str, Any]] = []
    for clinic in ids:
        rows += _runs(clinic, now, args.days, args.runs_per_day)
        upcoming += _cases(clinic, now, args.cases)
        await services.schedules.put(clinic, [{"type": "full", "cron": "0 */6 * * *"}])
    async with services.engine.begin() as conn:
        for table, values in ((case_sync_audits, rows), (cases, upcoming)):
            for start in range(0, len(values), BATCH):
                await conn.execute(insert(table), values[start : start + BATCH])
        if services.engine.dialect.name == "postgresql":
            await conn.exec_driver_sql("ANALYZE")  # what autovacuum does after a bulk load
    return len(rows)


async def _timed(http: httpx.AsyncClient, path: str, rounds: int = 7) -> tuple[float, float, int]:
    """Best and median seconds of `rounds` GETs, and the page's size."""
    times, size = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        answer = await http.get(path)
        times.append(time.perf_counter() - started)
        if answer.status_code != 200:
            raise SystemExit(f"{path}: {answer.status_code}")
        size = len(answer.content)
    return min(times), statistics.median(times), size


async def bench_database(url: str, args: argparse.Namespace) -> None:
    """Seed, sign in with a service key, time the overview."""
    upgrade_database(url)
    settings = load_settings(
        database_url=url,
        encryption_key="bench-encryption-key-0123456789abcdef",
        dashboard_secret="bench-dashboard-secret-0123456789abcdef",
    )
    services = build_services(settings)
    try:
        now = datetime.now(UTC)
        audit_rows = await _seed(services, args, now)
        _, key = await services.api_keys.create(clinic_id=None, name="bench")
        app = create_app(settings, services)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
            token = app.state.dashboard_links.issue(key)
            await http.get(f"/dashboard/sign-in?token={token}")
            page = await _timed(http, "/dashboard/clinics")
            table = await _timed(http, "/dashboard/clinics/table")
    finally:
        await services.aclose()
    print(f"\n{display_url(url)}: {args.clinics} clinics, {audit_rows:,} audit rows")
    for label, (best, median, size) in (("overview page", page), ("overview table", table)):
        verdict = "ok" if median * 1000 < BAR_MS else f"OVER the {BAR_MS:.0f} ms bar"
        print(
            f"  {label:<16} best {best * 1000:7.1f} ms   median {median * 1000:7.1f} ms"
            f"   {size / 1024:6.0f} KiB   {verdict}"
        )


async def main(args: argparse.Namespace) -> None:
    """Postgres (given or throwaway), then SQLite in a temporary file."""
    if args.database_url:
        await bench_database(args.database_url, args)
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            await bench_database(url, args)
    with tempfile.TemporaryDirectory() as tmp:
        await bench_database(f"sqlite:///{Path(tmp) / 'bench.db'}", args)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--clinics", type=int, default=200)
    parser.add_argument("--days", type=int, default=7)
    parser.add_argument("--runs-per-day", type=int, default=4)
    parser.add_argument("--cases", type=int, default=100)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
