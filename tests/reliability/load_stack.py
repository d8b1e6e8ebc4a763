"""The load stack: many simulated clinics whose schedules fire at one instant, real processes.

One simulator (a thread of this process) serves every clinic; the service runs as
production would on Postgres: one `pims-sync serve --no-worker` (the API and the
scheduler) and N `pims-sync worker` processes that execute the queued runs. A sampler
thread measures each worker's memory together with its children (Playwright's driver
and Chromium). Used by tests/reliability/test_load.py and bench/load.py.
"""

from __future__ import annotations

import asyncio
import signal
import statistics
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import httpx
import psutil
from sqlalchemy import select

from pims_sync.adapters.sql.engine import create_sync_db_engine
from pims_sync.adapters.sql.tables import cases as cases_table
from pims_sync.bootstrap import build_services
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.settings import load_settings
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.scheduling.harness import KEY, Serve, fires, spawn_serve, top_runs

# Real zones; the stack picks the one where it is around midday, so that no run's "today"
# can change while the load runs (a window computed at 23:59 and checked at 00:01).
ZONES = (
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/Chicago",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Berlin",
    "Europe/Moscow",
    "Asia/Dubai",
    "Asia/Kolkata",
    "Asia/Bangkok",
    "Asia/Shanghai",
    "Asia/Tokyo",
    "Australia/Sydney",
    "Pacific/Auckland",
)
TERMINAL = frozenset({"completed", "failed", "skipped"})
MIB = 1024 * 1024
EXTERNAL_ID = "pims-appt-idexx-neo-{}"
TERMINATE_TIMEOUT = 60.0


def zone_near_midday(now: datetime | None = None) -> str:
    """The zone of ZONES whose wall clock is closest to 12:00 now."""
    instant = now or datetime.now(UTC)

    def distance(name: str) -> float:
        wall = instant.astimezone(ZoneInfo(name))
        return abs(wall.hour + wall.minute / 60 - 12)

    return min(ZONES, key=distance)


@dataclass(frozen=True)
class LoadPlan:
    """How big the load is and how the processes are set up."""

    clinics: int = 50
    workers: int = 2
    concurrency: int = 4  # WORKER_CONCURRENCY of each worker
    schedule: str = "inbound"  # or "full" (window: today − lookback … today + days_ahead)
    days_ahead: int = 1  # inbound window: today … today + days_ahead
    lookback_days: int = 1  # full's lookback; and the first clinic's second schedule (cases)
    lead_seconds: float = 8.0  # fire time = when the schedules are written + lead
    seed: int = 42
    latency_ms: int = 0  # the simulator's base latency on data endpoints

    def fires(self) -> int:
        """Fire times expected: one inbound per clinic, one cases for the first clinic."""
        return self.clinics + 1


@dataclass
class TreeMemory:
    """One worker process and its children: peaks seen by the sampler."""

    label: str
    pid: int
    peak_rss: int = 0
    peak_pss: int = 0
    peak_processes: int = 0
    samples: int = 0


def _tree(root: psutil.Process) -> list[psutil.Process]:
    try:
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def _memory(processes: Sequence[psutil.Process]) -> tuple[int, int, int]:
    """(RSS, PSS, processes alive) summed over processes; ones that just ended are skipped."""
    rss = pss = alive = 0
    for process in processes:
        try:
            full = process.memory_full_info()
        except psutil.Error:
            continue
        rss += full.rss
        pss += getattr(full, "pss", full.rss)
        alive += 1
    return rss, pss, alive


def browser_processes(pid: int) -> dict[str, int]:
    """The Chromium processes under a worker, by `--type` (renderer, gpu-process, …)."""
    counts: Counter[str] = Counter()
    for process in _tree(psutil.Process(pid))[1:]:
        try:
            cmdline = process.cmdline()
        except psutil.Error:
            continue
        if not cmdline or "chrom" not in Path(cmdline[0]).name:
            continue
        kind = next((a.split("=", 1)[1] for a in cmdline if a.startswith("--type=")), "browser")
        counts[kind] += 1
    return dict(counts)


class MemorySampler(threading.Thread):
    """Samples RSS and PSS of each worker's process tree until stopped."""

    def __init__(self, roots: dict[str, int], interval: float = 1.0) -> None:
        super().__init__(name="memory-sampler", daemon=True)
        self.trees = {label: TreeMemory(label, pid) for label, pid in roots.items()}
        self._interval = interval
        self._halt = threading.Event()

    def run(self) -> None:
        """Sample every interval until stop()."""
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self._interval)

    def sample(self) -> None:
        """One sample of every tree."""
        for tree in self.trees.values():
            try:
                root = psutil.Process(tree.pid)
            except psutil.Error:
                continue
            rss, pss, alive = _memory(_tree(root))
            tree.peak_rss = max(tree.peak_rss, rss)
            tree.peak_pss = max(tree.peak_pss, pss)
            tree.peak_processes = max(tree.peak_processes, alive)
            tree.samples += 1

    def reset(self) -> None:
        """Forget the peaks so far (a new wave starts)."""
        for tree in self.trees.values():
            tree.peak_rss = tree.peak_pss = tree.peak_processes = tree.samples = 0

    def stop(self) -> None:
        """End sampling (after one last sample)."""
        self._halt.set()
        self.join(timeout=10)
        self.sample()


@dataclass
class LoadResult:
    """What the database, the simulator and the sampler say after the load."""

    plan: LoadPlan
    zone: str
    clinics: list[UUID]
    companies: dict[UUID, str]
    fire_at: datetime
    fires: list[Any]  # of the latest wave (fire time); all_fires: every wave's
    runs: list[Any]
    all_fires: list[Any]
    all_runs: list[Any]
    cases: dict[UUID, set[str]]
    expected: dict[UUID, set[str]]
    sim_stats: dict[str, Any]
    memory: dict[str, TreeMemory]
    browsers_after: dict[str, dict[str, int]]
    runs_by_worker: dict[str, int]
    exit_codes: dict[str, int] = field(default_factory=dict)

    @property
    def wall_seconds(self) -> float:
        """From the fire time to the end of the last run."""
        ends = [r.completed_at for r in self.runs if r.completed_at is not None]
        return max(0.0, (max(ends) - self.fire_at).total_seconds()) if ends else 0.0

    def _spread(self, seconds: Callable[[Any], timedelta]) -> str:
        """Median and maximum of a per-run duration, over the runs that ended."""
        values = sorted(seconds(r).total_seconds() for r in self.runs if r.completed_at)
        if not values:
            return "n/a"
        return f"{statistics.median(values):.1f} s median, {values[-1]:.1f} s max"

    def matching_clinics(self) -> int:
        """Clinics whose cases are exactly the simulator's appointments of their window."""
        return sum(
            bool(self.expected.get(c)) and self.cases.get(c) == self.expected[c]
            for c in self.clinics
        )

    def summary(self) -> list[str]:
        """The figures, one line each (printed by the test and the benchmark)."""
        plan, minutes, fire_at = self.plan, max(self.wall_seconds, 1e-9) / 60, self.fire_at
        done = sum(r.status == "completed" for r in self.runs)
        lines = [
            f"load: {plan.clinics} clinics, {plan.workers} workers x {plan.concurrency} jobs, "
            f"zone {self.zone}, {plan.schedule} daysAhead={plan.days_ahead}"
            + (f" lookbackDays={plan.lookback_days}" if plan.schedule == "full" else ""),
            f"load: {len(self.runs)} runs ({done} completed) in {self.wall_seconds:.1f} s "
            f"from the fire time = {len(self.runs) / minutes:.1f} runs/min",
            f"load: one run took {self._spread(lambda r: r.completed_at - r.started_at)}; "
            f"started after the fire time by {self._spread(lambda r: r.started_at - fire_at)}",
            f"load: PIMS requests {self.sim_stats.get('totalRequests')} "
            f"(logins {self.sim_stats.get('logins')}, "
            f"login failures {self.sim_stats.get('loginFailures')}), "
            f"cases {sum(len(c) for c in self.cases.values())}, equal to the simulator's "
            f"appointments of the window for {self.matching_clinics()}/{len(self.clinics)} clinics",
        ]
        total_rss = total_pss = 0
        for label, tree in self.memory.items():
            total_rss += tree.peak_rss
            total_pss += tree.peak_pss
            lines.append(
                f"load: {label} (pid {tree.pid}, {self.runs_by_worker.get(label, 0)} runs): "
                f"peak RSS {tree.peak_rss / MIB:.0f} MiB, peak PSS {tree.peak_pss / MIB:.0f} MiB "
                f"with its browser ({tree.peak_processes} processes at most, "
                f"{tree.samples} samples); browser after the runs {self.browsers_after[label]}"
            )
        lines.append(
            f"load: all workers: peak RSS {total_rss / MIB:.0f} MiB (sum of per-worker peaks), "
            f"peak PSS {total_pss / MIB:.0f} MiB"
        )
        return lines


async def _seed(url: str, sim: BackgroundSimulator, zone: str) -> dict[UUID, str]:
    services = build_services(load_settings(database_url=url, encryption_key=KEY))
    try:
        companies: dict[UUID, str] = {}
        for index, company in enumerate(sim.config.company_ids()):
            clinic = await services.clinics.add(name=f"Load clinic {index}", timezone=zone)
            credentials = PimsCredentials(
                username=sim.config.username,
                password=sim.config.password,
                company_id=company,
                base_url=sim.base_url,
            )
            await services.vault.save(clinic.id, credentials)
            companies[clinic.id] = company
        return companies
    finally:
        await services.aclose()


async def _schedule(url: str, entries: dict[UUID, list[dict[str, Any]]]) -> None:
    services = build_services(load_settings(database_url=url, encryption_key=KEY))
    try:
        for clinic, schedules in entries.items():
            await services.schedules.put(clinic, schedules)
    finally:
        await services.aclose()


def once_at(instant: datetime, zone: str) -> str:
    """A 6-field cron (seconds first) matching only this instant's wall clock (once a year)."""
    wall = instant.astimezone(ZoneInfo(zone))
    return f"{wall.second} {wall.minute} {wall.hour} {wall.day} {wall.month} *"


def _cases(url: str) -> dict[UUID, set[str]]:
    engine = create_sync_db_engine(url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(select(cases_table.c.clinic_id, cases_table.c.external_id))
            found: dict[UUID, set[str]] = {}
            for clinic_id, external_id in rows:
                found.setdefault(clinic_id, set()).add(external_id)
            return found
    finally:
        engine.dispose()


def _appointments(sim: BackgroundSimulator, company: str, first: date, last: date) -> set[str]:
    """External ids of the appointments (no blocks or rosters) starting on these days."""
    events = httpx.get(
        f"{sim.base_url}/__sim__/appointments",
        params={"start": first.isoformat(), "end": last.isoformat(), "clinic": company},
        timeout=30,
    ).json()
    return {
        EXTERNAL_ID.format(e["appointment_id"])
        for e in events
        if not e["is_block"]
        and not e["is_roster"]
        and first <= date.fromisoformat(e["start"][:10]) <= last
    }


class LoadStack:
    """The simulator, the database's clinics and the service processes of one load run."""

    def __init__(self, url: str, workdir: Path, plan: LoadPlan) -> None:
        self.url = url
        self.workdir = workdir
        self.plan = plan
        self.zone = zone_near_midday()
        self.sim: BackgroundSimulator | None = None
        self.companies: dict[UUID, str] = {}
        self.scheduler: Serve | None = None
        self.workers: dict[str, Serve] = {}
        self.sampler: MemorySampler | None = None
        self.fire_at: datetime | None = None
        self.waves = 0
        self.browsers_after: dict[str, dict[str, int]] = {}

    @contextmanager
    def running(self) -> Iterator[LoadStack]:
        """Simulator up, clinics seeded, processes started; everything stopped on exit."""
        plan = self.plan
        config = SimulatorConfig(
            clinics=plan.clinics, timezone=self.zone, seed=plan.seed, latency_ms=plan.latency_ms
        )
        with BackgroundSimulator(config) as sim:
            self.sim = sim
            self.companies = asyncio.run(_seed(self.url, sim, self.zone))
            env = {"RUN_STALE_SECONDS": "60", "WORKER_CONCURRENCY": str(self.plan.concurrency)}
            # What production runs: an API replica with the scheduler, and workers.
            commands = {"scheduler": ("serve", "--no-worker")} | {
                f"worker-{n}": ("worker",) for n in range(1, self.plan.workers + 1)
            }
            try:
                with ThreadPoolExecutor(len(commands)) as starting:  # they start in parallel
                    started = {
                        label: starting.submit(
                            spawn_serve, self.url, sim, self.workdir, label, *args, **env
                        )
                        for label, args in commands.items()
                    }
                    for label, future in started.items():
                        if label == "scheduler":
                            self.scheduler = future.result()
                        else:
                            self.workers[label] = future.result()
                self.sampler = MemorySampler(
                    {label: w.process.pid for label, w in self.workers.items()}
                )
                self.sampler.start()
                yield self
            finally:
                if self.sampler is not None and self.sampler.is_alive():
                    self.sampler.stop()
                for each in (*self.workers.values(), self.scheduler):
                    if each is not None and each.process.poll() is None:
                        each.process.kill()
                        each.process.wait(timeout=30)

    def fire_together(self) -> datetime:
        """Give every clinic the same one-off inbound schedule (clinic 0 a cases one too).

        Called again after settling, it starts another wave: the simulator's statistics
        and the memory peaks start from zero, results cover the latest wave only.
        """
        assert self.sim is not None
        assert self.sampler is not None
        httpx.post(f"{self.sim.base_url}/__sim__/stats/reset", timeout=30).raise_for_status()
        self.sampler.reset()
        fire_at = (datetime.now(UTC) + timedelta(seconds=self.plan.lead_seconds)).replace(
            microsecond=0
        )
        cron = once_at(fire_at, self.zone)
        plan = self.plan
        options: dict[str, int] = {"daysAhead": plan.days_ahead}
        if plan.schedule == "full":
            options["lookbackDays"] = plan.lookback_days
        main = {"type": plan.schedule, "cron": cron, "options": options}
        entries = {clinic: [main] for clinic in self.companies}
        cases = {"type": "cases", "cron": cron, "options": {"lookbackDays": plan.lookback_days}}
        entries[next(iter(self.companies))] = [main, cases]  # one clinic: two runs due at once
        asyncio.run(_schedule(self.url, entries))
        self.fire_at = fire_at
        self.waves += 1
        return fire_at

    def settled(self) -> bool:
        """Every expected fire time is closed and no run is in progress."""
        recorded = fires(self.url)
        expected = self.plan.fires() * self.waves
        if len(recorded) < expected or any(f.status not in TERMINAL for f in recorded):
            return False
        return all(r.status != "in_progress" for r in top_runs(self.url))

    def wait_settled(self, timeout: float) -> None:
        """Poll until settled(), else fail with what is still open and the processes' logs."""
        deadline = time.monotonic() + timeout
        while not self.settled():
            for label, each in self._processes().items():
                if each.process.poll() is not None:
                    raise AssertionError(f"{label} exited early:\n{each.output()[-4000:]}")
            if time.monotonic() > deadline:
                open_fires = Counter(f.status for f in fires(self.url))
                raise AssertionError(
                    f"not settled after {timeout:.0f} s: fires {dict(open_fires)}\n" + self._tails()
                )
            time.sleep(1.0)

    def _processes(self) -> dict[str, Serve]:
        named = dict(self.workers)
        if self.scheduler is not None:
            named["scheduler"] = self.scheduler
        return named

    def _tails(self) -> str:
        return "\n".join(
            f"--- {label}:\n{each.output()[-3000:]}" for label, each in self._processes().items()
        )

    def stop(self) -> dict[str, int]:
        """SIGTERM every process (workers first); their exit codes."""
        codes: dict[str, int] = {}
        for label, each in self._processes().items():
            codes[label] = each.stop(signal.SIGTERM, timeout=TERMINATE_TIMEOUT)
        return codes

    def result(self, exit_codes: dict[str, int]) -> LoadResult:
        """Read the outcome (call after settling; browsers are counted before stop())."""
        assert self.sim is not None
        assert self.sampler is not None
        assert self.fire_at is not None
        all_fires, all_runs = fires(self.url), top_runs(self.url)
        recorded = [f for f in all_fires if f.fire_at == self.fire_at]
        wave = {f.run_id for f in recorded}
        runs = [r for r in all_runs if r.id in wave]
        by_name = {w.name: label for label, w in self.workers.items()}
        runs_by_worker = Counter(by_name.get(f.run_by, str(f.run_by)) for f in recorded if f.run_by)
        zone = ZoneInfo(self.zone)
        expected: dict[UUID, set[str]] = {}
        back = self.plan.lookback_days if self.plan.schedule == "full" else 0
        for run in runs:
            if run.sync_type != self.plan.schedule:
                continue
            today = run.started_at.astimezone(zone).date()
            first, last = today - timedelta(days=back), today + timedelta(days=self.plan.days_ahead)
            company = self.companies[run.clinic_id]
            expected[run.clinic_id] = _appointments(self.sim, company, first, last)
        stats = httpx.get(f"{self.sim.base_url}/__sim__/stats", timeout=30).json()
        return LoadResult(
            plan=self.plan,
            zone=self.zone,
            clinics=list(self.companies),
            companies=self.companies,
            fire_at=self.fire_at,
            fires=recorded,
            runs=runs,
            all_fires=all_fires,
            all_runs=all_runs,
            cases=_cases(self.url),
            expected=expected,
            sim_stats=stats,
            memory=self.sampler.trees,
            browsers_after=self.browsers_after,
            runs_by_worker=dict(runs_by_worker),
            exit_codes=exit_codes,
        )

    def count_browsers(self) -> None:
        """Chromium processes under each worker now (after the runs, before stopping)."""
        self.browsers_after = {
            label: browser_processes(w.process.pid) for label, w in self.workers.items()
        }
