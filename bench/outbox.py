"""Benchmark the outbox: inbound's database time for 630 appointments with and without events.

Run: .venv/bin/python -m bench.outbox [--database-url URL] [--cases 630] [--rounds 31]
A round writes the appointments into two new clinics, as two inbound runs do (first all
created, then all updated: one event per case each time): one clinic with the events, the
other without (the derivation switched off, so the batch appends nothing). The two are
written side by side, batch by batch (with/without, then without/with, …: ABBA), so the
load of other processes, which changes within seconds on a shared machine, falls on both
alike; two warm-up rounds (not counted) let the driver prepare every statement first.
Printed per run: the best and the median time of each side, the overhead of the best
times, and the median of the rounds' own overheads (each round's with ÷ its without).
The bar: events add at most 10 % to the inbound database time on Postgres, by both
figures (exit 1 otherwise).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from uuid import UUID

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from bench.inbound_writes import DEFAULT_SERVER, external_id, inbound_plan, throwaway_postgres
from pims_sync.adapters.sql import cases as sql_cases
from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.migrate import display_url, upgrade_database
from pims_sync.adapters.sql.outbox import SqlEventLog

BAR_PERCENT = 10.0
RUNS = ("first run (created)", "second run (updated)")
WARM_UP_ROUNDS = 2
# The bench's connections, to find their server processes.
APPLICATION = "pims-sync-bench-outbox"


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


def _paired(on: list[float], off: list[float]) -> float:
    """The median of the rounds' own overheads (each with ÷ its without), in %."""
    return statistics.median(a / b * 100 - 100 for a, b in zip(on, off, strict=True))


@dataclass
class Timings:
    """Per run (created, updated) of each round, with and without events: wall and CPU s."""

    wall: dict[bool, list[list[float]]] = field(default_factory=lambda: {True: [], False: []})
    cpu: dict[bool, list[list[float]]] = field(default_factory=lambda: {True: [], False: []})

    def add(self, wall: dict[bool, list[float]], cpu: dict[bool, list[float]]) -> None:
        """One round's figures."""
        for events in (True, False):
            self.wall[events].append(wall[events])
            self.cpu[events].append(cpu[events])

    def line(self, index: int, label: str, cpu_of: str) -> tuple[str, tuple[float, float]]:
        """The printed lines of one run; its wall-time overheads in % (best times, median)."""
        on, off = ([r[index] for r in self.wall[flag]] for flag in (True, False))
        best = (min(on) - min(off)) / min(off) * 100
        paired = _paired(on, off)
        cpu_on, cpu_off = ([r[index] for r in self.cpu[flag]] for flag in (True, False))
        text = (
            f"  {label:<21} without events: best {min(off) * 1000:6.1f} ms, median"
            f" {statistics.median(off) * 1000:6.1f} ms; with: best {min(on) * 1000:6.1f} ms,"
            f" median {statistics.median(on) * 1000:6.1f} ms\n"
            f"  {'':<21} overhead: of the best times {best:+5.1f} %, median of the"
            f" {len(on)} rounds' {paired:+5.1f} %\n"
            f"  {'':<21} CPU ({cpu_of}): median {statistics.median(cpu_off) * 1000:6.1f} ms"
            f" without, {statistics.median(cpu_on) * 1000:6.1f} ms with, median of the rounds'"
            f" overheads {_paired(cpu_on, cpu_off):+5.1f} %"
        )
        return text, (best, paired)


def _local_postgres(pid: int) -> bool:
    """Whether the process `pid` of this machine is a Postgres backend (a server elsewhere: no)."""
    cmdline = Path(f"/proc/{pid}/cmdline")
    return cmdline.exists() and cmdline.read_bytes().startswith(b"postgres")


class ServerCpu:
    """CPU seconds of the Postgres backends that serve the bench (same machine: /proc)."""

    def __init__(self, pids: list[int]) -> None:
        self._files = [Path(f"/proc/{pid}/schedstat") for pid in pids]

    @classmethod
    async def of(cls, engine: AsyncEngine) -> ServerCpu:
        """The backends of the engine's pool; none on SQLite or on another machine."""
        if engine.dialect.name != "postgresql":
            return cls([])
        async with engine.connect() as conn:
            found = await conn.execute(
                text("SELECT pid FROM pg_stat_activity WHERE application_name = :name"),
                {"name": APPLICATION},
            )
            pids = [int(pid) for (pid,) in found]
        local = all(
            Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"postgres")
            for pid in pids
            if Path(f"/proc/{pid}").exists()
        )
        return cls(pids if local else [])

    @property
    def measured(self) -> bool:
        """Whether the server's CPU is counted."""
        return bool(self._files)

    def seconds(self) -> float:
        """The backends' CPU time so far (schedstat: nanoseconds on a CPU)."""
        return sum(int(f.read_text().split()[0]) for f in self._files if f.exists()) / 1e9


async def timed_batch(
    store: SqlCaseStore, server: ServerCpu, clinic: UUID, numbers: range, version: int
) -> tuple[float, float]:
    """The wall and CPU seconds (this process and the server's) of one `apply`."""
    ids = [external_id(n) for n in numbers]
    plan = inbound_plan(numbers, version)
    cpu, server_cpu, began = time.process_time(), server.seconds(), time.perf_counter()
    await store.apply(clinic_id=clinic, external_ids=ids, plan=plan)
    wall = time.perf_counter() - began
    return wall, time.process_time() - cpu + server.seconds() - server_cpu


async def one_round(
    store: SqlCaseStore,
    server: ServerCpu,
    clinics: dict[bool, UUID],
    args: argparse.Namespace,
    *,
    on_first: bool,
) -> tuple[dict[bool, list[float]], dict[bool, list[float]]]:
    """Both clinics written batch by batch, side by side: wall and CPU seconds per run."""
    wall = {True: [0.0, 0.0], False: [0.0, 0.0]}
    cpu = {True: [0.0, 0.0], False: [0.0, 0.0]}
    order = (on_first, not on_first)
    for index, version in enumerate((1, 2)):
        for first in range(0, args.cases, args.batch):
            numbers = range(first, min(first + args.batch, args.cases))
            for events in order:
                with nullcontext() if events else events_off():
                    took = await timed_batch(store, server, clinics[events], numbers, version)
                wall[events][index] += took[0]
                cpu[events][index] += took[1]
            order = order[::-1]
    return wall, cpu


async def bench_database(url: str, args: argparse.Namespace) -> float:
    """Print one database's figures; the worst wall-time overhead (best or median), in %."""
    await asyncio.to_thread(upgrade_database, url)
    if make_url(url).get_backend_name() != "sqlite":
        url = (
            make_url(url)
            .update_query_dict({"application_name": APPLICATION})
            .render_as_string(hide_password=False)
        )
    engine = create_async_db_engine(url)
    timings = Timings()
    try:
        store, clinic_store = SqlCaseStore(engine), SqlClinicStore(engine)
        server = ServerCpu([])
        for n in range(-WARM_UP_ROUNDS, args.rounds):
            clinics = {
                events: (await clinic_store.add(name="Bench")).id for events in (True, False)
            }
            wall, cpu = await one_round(store, server, clinics, args, on_first=n % 2 == 0)
            if n >= 0:
                timings.add(wall, cpu)
            else:
                server = await ServerCpu.of(engine)
        log = SqlEventLog(engine)
        written = {events: await log.last_seq(clinic_id=clinics[events]) for events in clinics}
    finally:
        await engine.dispose()
    print(
        f"\n{engine.dialect.name}: {display_url(url)}, {args.cases} appointments, batches of"
        f" {args.batch}, {args.rounds} rounds (+{WARM_UP_ROUNDS} warm-up)"
    )
    if engine.dialect.name == "sqlite":
        cpu_of = "the process, SQLite's thread included"
    else:
        cpu_of = "the process + its server backend" if server.measured else "the process only"
    worst = 0.0
    for index, label in enumerate(RUNS):
        lines, overheads = timings.line(index, label, cpu_of)
        print(lines)
        worst = max(worst, *overheads)
    print(f"  events of a round's two clinics: with {written[True]}, without {written[False]}")
    return worst


async def main(args: argparse.Namespace) -> int:
    """Postgres (given or throwaway), then SQLite in a temporary file."""
    if args.database_url:
        worst = await bench_database(args.database_url, args)
        postgres = make_url(args.database_url).get_backend_name() != "sqlite"
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            worst = await bench_database(url, args)
        postgres = True
        with tempfile.TemporaryDirectory() as tmp:
            await bench_database(f"sqlite:///{Path(tmp) / 'bench.db'}", args)
    if not postgres:
        return 0
    verdict = "meets" if worst <= BAR_PERCENT else "MISSES"
    print(
        f"\nPostgres {verdict} the bar: events add at most {BAR_PERCENT:.0f} %"
        f" (worst of the figures above: {worst:+.1f} %)"
    )
    return 0 if worst <= BAR_PERCENT else 1


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a migrated-or-empty database to write into")
    parser.add_argument("--cases", type=int, default=630)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=31)
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
