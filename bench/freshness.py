"""Benchmark freshness reads: every clinic's status from a long audit history.

Run: .venv/bin/python -m bench.freshness [--database-url URL] [--clinics 100] [--days 30]
     [--runs-per-day 24]
Each clinic gets `days × runs-per-day` full runs (four audit rows each: the run and its
three phases), as a schedule would leave them. Printed, best of five (and median): one
clinic's freshness (`GET /api/clinic/freshness`), every clinic's (`/metrics`, the
scheduler status), and the scheduler's periodic check when nothing changed (the same
reads; a change adds one short locked transaction for that clinic only). Postgres (given,
or a throwaway database on PIMS_SYNC_TEST_POSTGRES_URL's server), then SQLite.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import insert

from bench.inbound_writes import DEFAULT_SERVER, throwaway_postgres
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.health import SqlClinicHealth
from pims_sync.adapters.sql.migrate import display_url, upgrade_database
from pims_sync.adapters.sql.tables import case_sync_audits

NOW = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
PHASES = ("inbound", "cases", "reconciliation")
BATCH = 5000


def _rows(clinic: UUID, days: int, per_day: int) -> list[dict[str, Any]]:
    """A clinic's history: full runs, each with its three completed phase rows."""
    rows: list[dict[str, Any]] = []
    step = timedelta(days=1) / per_day
    for n in range(days * per_day):
        ended = NOW - n * step
        parent = uuid.uuid4()
        common = {"clinic_id": clinic, "status": "completed", "triggered_by": "scheduler"}
        rows.append(
            {"id": parent, "sync_type": "full", "started_at": ended, "completed_at": ended} | common
        )
        rows += [
            {"id": uuid.uuid4(), "sync_type": phase, "parent_id": parent, "started_at": ended}
            | {"completed_at": ended}
            | common
            for phase in PHASES
        ]
    return rows


async def _timed(work: Callable[[], Awaitable[object]], rounds: int = 5) -> tuple[float, float]:
    """Best and median seconds of `rounds` calls."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


async def bench_database(url: str, clinics: int, days: int, per_day: int) -> None:
    """Seed the history, then time the reads."""
    upgrade_database(url)
    engine = create_async_db_engine(url)
    try:
        store = SqlClinicStore(engine)
        ids = [(await store.add(name=f"Clinic {n}")).id for n in range(clinics)]
        count = 0
        for clinic in ids:
            rows = _rows(clinic, days, per_day)
            async with engine.begin() as conn:
                for start in range(0, len(rows), BATCH):
                    await conn.execute(insert(case_sync_audits), rows[start : start + BATCH])
            count += len(rows)
        if engine.dialect.name == "postgresql":
            async with engine.begin() as conn:  # what autovacuum does after a bulk load
                await conn.exec_driver_sql("ANALYZE case_sync_audits")
        health = SqlClinicHealth(engine)
        await health.reassess(at=NOW)  # every status announced once: the check reads only
        one = await _timed(lambda: health.freshness(at=NOW, clinic_ids=[ids[0]]))
        every = await _timed(lambda: health.freshness(at=NOW))
        check = await _timed(lambda: health.reassess(at=NOW))
    finally:
        await engine.dispose()
    print(f"\n{display_url(url)}: {clinics} clinics, {count:,} audit rows")
    for label, (best, median) in (
        ("one clinic's freshness", one),
        (f"all {clinics} clinics' freshness", every),
        ("periodic check, nothing changed", check),
    ):
        print(f"  {label:<36} best {best * 1000:8.1f} ms   median {median * 1000:8.1f} ms")


async def main(args: argparse.Namespace) -> None:
    """Postgres (given or throwaway), then SQLite in a temporary file."""
    sizes = (args.clinics, args.days, args.runs_per_day)
    if args.database_url:
        await bench_database(args.database_url, *sizes)
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            await bench_database(url, *sizes)
    with tempfile.TemporaryDirectory() as tmp:
        await bench_database(f"sqlite:///{Path(tmp) / 'bench.db'}", *sizes)


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--clinics", type=int, default=100)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--runs-per-day", type=int, default=24)
    return parser.parse_args(argv)


if __name__ == "__main__":
    asyncio.run(main(parse()))
