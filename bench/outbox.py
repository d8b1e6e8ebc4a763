"""Benchmark the outbox: inbound's database time for 630 appointments with and without events.

Run: .venv/bin/python -m bench.outbox [--database-url URL] [--cases 630] [--rounds 7]
Each round writes the appointments into a new clinic twice, as two inbound runs do (first
all created, then all updated: one event per case each time), once with the events and
once without (the derivation switched off, so the batch appends nothing); the rounds
alternate the two so drift hits both. Printed: the best (and median) time per run, the
overhead in % of the best times.
The bar: events add at most 10 % to the inbound database time on Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy.engine import make_url

from bench.inbound_writes import DEFAULT_SERVER, throwaway_postgres, write_all
from pims_sync.adapters.sql import cases as sql_cases
from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.migrate import display_url, upgrade_database
from pims_sync.adapters.sql.outbox import SqlEventLog

BAR_PERCENT = 10.0
RUNS = ("first run (created)", "second run (updated)")


@contextmanager
def events_off() -> Iterator[None]:
    """The case store derives no event (so it appends none): the baseline."""
    derive = sql_cases.case_events

    def none(*_: Any) -> list[Any]:
        return []

    sql_cases.case_events = none  # type: ignore[assignment]
    try:
        yield
    finally:
        sql_cases.case_events = derive


async def one_round(
    store: SqlCaseStore, clinics: SqlClinicStore, total: int, batch: int
) -> tuple[UUID, list[float]]:
    """A new clinic, and the seconds of its two runs."""
    clinic = (await clinics.add(name="Bench")).id
    return clinic, [await write_all(store, clinic, total, batch, version) for version in (1, 2)]


async def bench_database(url: str, total: int, batch: int, rounds: int) -> float:
    """Print one database's figures; the worst overhead of the two runs, in %."""
    await asyncio.to_thread(upgrade_database, url)
    engine = create_async_db_engine(url)
    try:
        store, clinics = SqlCaseStore(engine), SqlClinicStore(engine)
        await one_round(store, clinics, 10, 10)  # warm the pool and statement caches
        timed: dict[bool, list[list[float]]] = {True: [], False: []}
        for n in range(rounds):
            for with_events in (n % 2 == 0, n % 2 != 0):
                if with_events:
                    clinic, seconds = await one_round(store, clinics, total, batch)
                else:
                    with events_off():
                        _, seconds = await one_round(store, clinics, total, batch)
                timed[with_events].append(seconds)
        events = await SqlEventLog(engine).last_seq(clinic_id=clinic)
    finally:
        await engine.dispose()
    print(f"\n{engine.dialect.name}: {display_url(url)}, {total} appointments, batches of {batch}")
    worst = 0.0
    for index, label in enumerate(RUNS):
        # The minimum is the figure (other work on the machine only ever adds time);
        # the median is printed beside it.
        best = {flag: min(r[index] for r in timed[flag]) for flag in (False, True)}
        middle = {flag: statistics.median(r[index] for r in timed[flag]) for flag in (False, True)}
        overhead = (best[True] - best[False]) / best[False] * 100
        worst = max(worst, overhead)
        print(
            f"  {label:<22} without events {best[False]:6.3f} s, with events {best[True]:6.3f} s:"
            f" overhead {overhead:+5.1f} % (best of {rounds}; medians {middle[False]:.3f} s"
            f" and {middle[True]:.3f} s)"
        )
    print(f"  events of one clinic written with them (two runs): {events}")
    return worst


async def main(args: argparse.Namespace) -> int:
    """Postgres (given or throwaway), then SQLite in a temporary file."""
    if args.database_url:
        worst = await bench_database(args.database_url, args.cases, args.batch, args.rounds)
        postgres = make_url(args.database_url).get_backend_name() != "sqlite"
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            worst = await bench_database(url, args.cases, args.batch, args.rounds)
        postgres = True
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = f"sqlite:///{Path(tmp) / 'bench.db'}"
            await bench_database(sqlite, args.cases, args.batch, args.rounds)
    if not postgres:
        return 0
    verdict = "meets" if worst <= BAR_PERCENT else "MISSES"
    print(f"\nPostgres {verdict} the bar: events add at most {BAR_PERCENT:.0f} % ({worst:+.1f} %)")
    return 0 if worst <= BAR_PERCENT else 1


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a migrated-or-empty database to write into")
    parser.add_argument("--cases", type=int, default=630)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=7)
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
