"""Benchmark clinics per worker: fires spread as a real day spreads them, on Postgres.

Run: .venv/bin/python -m bench.scale [--clinics 1000] [--syncs-per-day 3] [--minutes 5]
                                     [--workers 1,2,3] [--rates 1,2,4] [--concurrency 4]
                                     [--latency-ms 300] [--database-url URL]

For every (workers, rate) of the matrix: a fresh database and simulator with --clinics
clinics (data endpoints answer after --latency-ms), `pims-sync serve --no-worker` (the
scheduler) and `workers` × `pims-sync worker`. Each clinic has a full sync (7 days back,
7 ahead) --syncs-per-day times a day; a day spreads those fires evenly, so the fire rate
is clinics × syncs-per-day / 86 400 per second, times `rate`. For --minutes of wall time
the clinics fire one after another at that rate (one-off schedules written up front;
every run of a short window is its clinic's first, so it logs in, as runs hours apart
do: IDEXX forgets an idle session after 20 minutes). Then it waits for the fired runs to
end (at most --drain-minutes) and prints: runs completed and missed, runs/min per worker,
p50/p95/max start delay against the fire time, PIMS logins, peak and steady PSS per worker
process tree (Python, Playwright's driver and Chromium; steady = median of the samples
with no browser running), database connections at peak (pg_stat_activity), and the
scaling ratio (throughput with k workers ÷ k × throughput with one, at the same rate).

The whole default matrix (9 configurations of ~5 minutes plus set-up) takes about an hour
and needs a quiet machine: figures taken on a loaded one are noisy (say so with them). The
Postgres server must allow (workers + 1) × (--pool-size + concurrency + 7) connections
beside its other clients (3 workers at the defaults: 84); lower --pool-size if it does not.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
import psutil
import psycopg
from tests.integration.scheduling.harness import Serve, fires, spawn_serve, top_runs
from tests.reliability.load_stack import (
    MIB,
    MemorySampler,
    _memory,
    _schedule,
    _seed,
    _tree,
    browser_processes,
    once_at,
    zone_near_midday,
)

from bench.inbound_writes import DEFAULT_SERVER, _conninfo, throwaway_postgres
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator

DAY_SECONDS = 86_400
LEAD_SECONDS = 20.0  # the first fire comes this long after the schedules are written
DAYS = 7  # full sync window: 7 days back, 7 ahead
WEBHOOKS_CONCURRENCY = 4  # the default the processes run with


def _median(values: Sequence[float]) -> str:
    return f"{statistics.median(values):.1f}" if values else "n/a"


@dataclass(frozen=True)
class Config:
    """One cell of the matrix."""

    clinics: int
    syncs_per_day: float
    rate: float  # multiple of the real fire rate
    workers: int
    minutes: float
    concurrency: int
    latency_ms: int
    pool_size: int = 10  # DATABASE_POOL_SIZE of every process

    def pool_bound(self) -> int:
        """Connections one process may hold: DATABASE_POOL_SIZE + procrastinate's pool."""
        return self.pool_size + self.concurrency + WEBHOOKS_CONCURRENCY + 3

    @property
    def interval(self) -> float:
        """Seconds between two fires."""
        return DAY_SECONDS / (self.clinics * self.syncs_per_day * self.rate)

    def fire_count(self) -> int:
        """Fires in the window (one clinic each)."""
        return min(self.clinics, int(self.minutes * 60 / self.interval) + 1)


class StackSampler(MemorySampler):
    """Peaks per worker tree, plus each sample's PSS with whether a browser was up."""

    def __init__(self, roots: dict[str, int], database: str, server: str) -> None:
        super().__init__(roots)
        self.samples: dict[str, list[tuple[int, bool]]] = {label: [] for label in roots}
        self.peak_connections = 0
        self._database, self._server = database, server
        self._conn: psycopg.Connection[Any] | None = None

    def sample(self) -> None:
        """One sample of every tree and of the database's connections."""
        super().sample()
        for label, tree in self.trees.items():
            try:
                processes = _tree(psutil.Process(tree.pid))
            except psutil.Error:
                continue
            _, pss, _ = _memory(processes)
            self.samples[label].append((pss, bool(browser_processes(tree.pid))))
        self.peak_connections = max(self.peak_connections, self._connections())

    def _connections(self) -> int:
        try:
            if self._conn is None:
                self._conn = psycopg.connect(_conninfo(self._server), autocommit=True)
            row = self._conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = %s", (self._database,)
            ).fetchone()
        except psycopg.Error:
            self._conn = None
            return 0
        return int(row[0]) if row else 0

    def steady_pss(self, label: str) -> int | None:
        """Median PSS of the samples with no browser (None: the browser never stopped)."""
        idle = [pss for pss, browser in self.samples[label] if not browser]
        return int(statistics.median(idle)) if idle else None


@dataclass
class Outcome:
    """The figures of one configuration."""

    config: Config
    fired: int
    completed: int
    missed: int
    delays: list[float]
    durations: list[float]
    logins: int
    peak_pss: dict[str, int]
    steady_pss: dict[str, int | None]
    peak_connections: int
    runs_by_worker: dict[str, int] = field(default_factory=dict)
    window_minutes: float = 0.0

    @property
    def runs_per_minute(self) -> float:
        """Completed runs per minute of the fire window (all workers)."""
        return self.completed / max(self.window_minutes, 1e-9)

    def lines(self) -> list[str]:
        """The printed figures."""
        c = self.config
        delays = sorted(self.delays)

        def pct(q: float) -> str:
            return f"{delays[min(len(delays) - 1, int(q * len(delays)))]:.1f}" if delays else "n/a"

        memory = ", ".join(
            f"{label} peak {self.peak_pss[label] / MIB:.0f} / steady "
            + (f"{steady / MIB:.0f}" if (steady := self.steady_pss[label]) else "n/a")
            + " MiB"
            for label in self.peak_pss
        )
        return [
            f"scale: {c.workers} worker(s) x {c.concurrency}, {c.clinics} clinics, "
            f"{c.syncs_per_day:g}/day x{c.rate:g} = a fire every {c.interval:.1f} s, "
            f"{c.minutes:g} min, latency {c.latency_ms} ms, DATABASE_POOL_SIZE {c.pool_size}",
            f"scale:   runs {self.completed}/{self.fired} completed, {self.missed} not completed "
            f"by the end of the drain; one run {_median(self.durations)} s median; "
            f"{self.runs_per_minute / c.workers:.1f} runs/min/worker; start delay p50 "
            f"{pct(0.5)} s, p95 {pct(0.95)} s, max {delays[-1] if delays else 0:.1f} s",
            f"scale:   PIMS logins {self.logins}; DB connections at peak {self.peak_connections} "
            f"(all {c.workers + 1} processes; at most {(c.workers + 1) * c.pool_bound()} by "
            "their pools); "
            f"runs by worker {self.runs_by_worker}",
            f"scale:   PSS per worker tree (with its browser): {memory}",
        ]


@contextmanager
def stack(
    url: str, config: Config, workdir: Path, server: str
) -> Iterator[tuple[BackgroundSimulator, dict[UUID, str], dict[str, Serve], StackSampler]]:
    """Simulator, seeded clinics, the scheduler and the workers, and the sampler."""
    zone = zone_near_midday()
    sim_config = SimulatorConfig(
        clinics=config.clinics, timezone=zone, latency_ms=config.latency_ms
    )
    with BackgroundSimulator(sim_config) as sim:
        companies = asyncio.run(_seed(url, sim, zone))
        env = {
            "RUN_STALE_SECONDS": "60",
            "WORKER_CONCURRENCY": str(config.concurrency),
            "DATABASE_POOL_SIZE": str(config.pool_size),
        }
        processes = {
            "scheduler": spawn_serve(
                url, sim, workdir, "scheduler", "serve", "--no-worker", ready_seconds=300, **env
            )
        }
        for n in range(1, config.workers + 1):
            processes[f"worker-{n}"] = spawn_serve(
                url, sim, workdir, f"worker-{n}", "worker", ready_seconds=300, **env
            )
        database = url.rsplit("/", 1)[1].split("?")[0]
        roots = {label: p.process.pid for label, p in processes.items() if label != "scheduler"}
        sampler = StackSampler(roots, database, server)
        sampler.start()
        try:
            yield sim, companies, processes, sampler
        finally:
            sampler.stop()
            for each in processes.values():
                if each.process.poll() is None:
                    each.process.kill()
                    each.process.wait(timeout=30)


def plan_fires(config: Config, clinics: Sequence[UUID], start: datetime) -> dict[UUID, datetime]:
    """Each firing clinic's fire time: one every `interval`, clinics in a shuffled order."""
    order = list(clinics)
    random.Random(7).shuffle(order)
    return {
        clinic: (start + timedelta(seconds=i * config.interval)).replace(microsecond=0)
        for i, clinic in enumerate(order[: config.fire_count()])
    }


def measure(url: str, config: Config, server: str, drain_minutes: float) -> Outcome:
    """Run one configuration and read its figures."""
    upgrade_database(url)
    with (
        tempfile.TemporaryDirectory(prefix="pims-sync-scale-") as tmp,
        stack(url, config, Path(tmp), server) as (sim, companies, processes, sampler),
    ):
        zone = zone_near_midday()
        start = datetime.now(UTC) + timedelta(seconds=LEAD_SECONDS)
        planned = plan_fires(config, list(companies), start)
        options = {"daysAhead": DAYS, "lookbackDays": DAYS}
        entries = {
            clinic: [{"type": "full", "cron": once_at(at, zone), "options": options}]
            for clinic, at in planned.items()
        }
        asyncio.run(_schedule(url, entries))
        sampler.reset()
        end = start + timedelta(minutes=config.minutes)
        deadline = end + timedelta(minutes=drain_minutes)
        while datetime.now(UTC) < deadline:
            recorded = fires(url)
            closed = [f for f in recorded if f.status in ("completed", "failed", "skipped")]
            if datetime.now(UTC) > end and len(closed) >= len(planned):
                break
            time.sleep(2.0)
        stats = _stats(sim)
        recorded, runs = fires(url), {r.id: r for r in top_runs(url)}
        by_name = {p.name: label for label, p in processes.items()}
        delays = [
            (runs[f.run_id].started_at - f.fire_at).total_seconds()
            for f in recorded
            if f.run_id in runs and runs[f.run_id].started_at is not None
        ]
        durations = [
            (r.completed_at - r.started_at).total_seconds()
            for r in runs.values()
            if r.completed_at is not None and r.started_at is not None
        ]
        completed = sum(f.status == "completed" for f in recorded)
        by_worker: dict[str, int] = {}
        for f in recorded:
            if f.run_by:
                label = by_name.get(f.run_by, str(f.run_by))
                by_worker[label] = by_worker.get(label, 0) + 1
        last_end = max((r.completed_at for r in runs.values() if r.completed_at), default=end)
        return Outcome(
            config=config,
            fired=len(planned),
            completed=completed,
            missed=len(planned) - completed,
            delays=delays,
            durations=durations,
            logins=int(stats.get("logins", 0)),
            peak_pss={label: t.peak_pss for label, t in sampler.trees.items()},
            steady_pss={label: sampler.steady_pss(label) for label in sampler.trees},
            peak_connections=sampler.peak_connections,
            runs_by_worker=by_worker,
            window_minutes=max((last_end - start).total_seconds(), 1.0) / 60,
        )


def _stats(sim: BackgroundSimulator) -> dict[str, Any]:
    answer: dict[str, Any] = httpx.get(f"{sim.base_url}/__sim__/stats", timeout=30).json()
    return answer


def scaling(outcomes: Sequence[Outcome]) -> list[str]:
    """Throughput with k workers ÷ (k × throughput with one), per rate."""
    lines = []
    for rate in sorted({o.config.rate for o in outcomes}):
        one = next((o for o in outcomes if o.config.rate == rate and o.config.workers == 1), None)
        for o in outcomes:
            if o.config.rate != rate or o.config.workers == 1 or one is None:
                continue
            ratio = o.runs_per_minute / (o.config.workers * max(one.runs_per_minute, 1e-9))
            lines.append(
                f"scale: scaling ratio at x{rate:g}, {o.config.workers} workers: {ratio:.2f}"
            )
    return lines


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clinics", type=int, default=1000)
    parser.add_argument("--syncs-per-day", type=float, default=3)
    parser.add_argument("--minutes", type=float, default=5)
    parser.add_argument("--drain-minutes", type=float, default=5)
    parser.add_argument("--workers", default="1,2,3", help="comma-separated worker counts")
    parser.add_argument("--rates", default="1,2,4", help="comma-separated fire-rate multiples")
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument(
        "--pool-size",
        type=int,
        default=10,
        help="DATABASE_POOL_SIZE of every process (lower it on a server with few connections)",
    )
    parser.add_argument("--database-url", help="default: a throwaway database per configuration")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
    outcomes: list[Outcome] = []
    started = time.monotonic()
    print(f"scale: load average {os.getloadavg()[0]:.1f} at the start (2+ means noisy figures)")
    for rate in (float(r) for r in args.rates.split(",")):
        for workers in (int(w) for w in args.workers.split(",")):
            config = Config(
                clinics=args.clinics,
                syncs_per_day=args.syncs_per_day,
                rate=rate,
                workers=workers,
                minutes=args.minutes,
                concurrency=args.concurrency,
                latency_ms=args.latency_ms,
                pool_size=args.pool_size,
            )
            if args.database_url:
                outcome = measure(args.database_url, config, server, args.drain_minutes)
            else:
                with throwaway_postgres(server) as url:
                    outcome = measure(url, config, server, args.drain_minutes)
            outcomes.append(outcome)
            for line in outcome.lines():
                print(line, flush=True)
    for line in scaling(outcomes):
        print(line)
    print(
        f"scale: whole benchmark {time.monotonic() - started:.0f} s; load average "
        f"{os.getloadavg()[0]:.1f} at the end"
    )
    raise SystemExit(1 if any(o.missed for o in outcomes) else 0)


if __name__ == "__main__":
    main()
