"""Benchmark the IDEXX provider against the simulator: cold login, bulk fetch, memory.

Run: .venv/bin/python -m bench.provider [--latency-ms 300] [--consultations 300] [--days 15]
     [--profile standard|wild]
Pacing comes from PIMS_MAX_CONCURRENCY / PIMS_RATE_LIMIT_PER_SECOND (defaults 5 and 10/s).
"""

from __future__ import annotations

import argparse
import asyncio
import threading
import time
import uuid
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import httpx
import psutil

from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.domain.appointments import CalendarPage
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.ports.provider import ClinicLogin
from pims_sync.settings import Settings
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator

RATIO_BAR = 1.15


class PeakPss:
    """Samples the PSS of this process and all its children (Chromium included)."""

    def __init__(self, interval: float = 0.1) -> None:
        self.peak = 0
        self.peak_parts: dict[str, int] = {}
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            parts = tree_pss()
            if sum(parts.values()) > self.peak:
                self.peak, self.peak_parts = sum(parts.values()), parts
            self._stop.wait(self._interval)

    def __enter__(self) -> PeakPss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()


def tree_pss() -> dict[str, int]:
    """PSS by kind: this Python process (with the in-process simulator), the Playwright
    driver (node) and Chromium."""
    me = psutil.Process()
    parts = {"python (+ simulator)": 0, "playwright driver": 0, "chromium": 0}
    for proc in [me, *me.children(recursive=True)]:
        try:
            pss = proc.memory_full_info().pss
            name = proc.name().lower()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        kind = "chromium" if "chrom" in name else "python (+ simulator)"
        if "node" in name:
            kind = "playwright driver"
        parts[kind] += pss
    return parts


async def run(args: argparse.Namespace, sim: BackgroundSimulator) -> None:
    options = IdexxOptions.from_settings(Settings(), base_url=sim.base_url)
    provider = IdexxProvider(options)
    config = sim.config
    login = ClinicLogin(
        clinic_id=uuid.uuid4(),
        credentials=PimsCredentials(
            username=config.username, password=config.password, company_id=str(config.company_id)
        ),
        timezone=config.timezone,
    )
    control = httpx.Client(base_url=f"{sim.base_url}/__sim__")
    control.post("/settings", json={"latencyMs": args.latency_ms}).raise_for_status()
    clock = control.get("/clock").json()
    try:
        started = time.perf_counter()
        async with provider.session(login) as session:
            cold_login = time.perf_counter() - started
            zone = login.zone
            today = clinic_midnight(clock["now"], zone)
            end = today  # whole past days: their consultations exist
            start = end - timedelta(days=args.days)

            fetch_started = time.perf_counter()
            if args.per_day:  # the brief's accounting: one calendar request per day
                days = [start + timedelta(days=d) for d in range(args.days)]
                pages = await asyncio.gather(
                    *(session.fetch_appointments(day, day + timedelta(days=1)) for day in days)
                )
                page = CalendarPage()
                for one in pages:
                    page = page.merged(one)
            else:
                page = await session.fetch_appointments(start, end)
            ids = [a.consultation_id for a in page.appointments if a.consultation_id]
            ids = ids[: args.consultations]
            consultations = await asyncio.gather(*(session.fetch_consultation(i) for i in ids))
            fetch_seconds = time.perf_counter() - fetch_started
            requests = session.requests_sent
    finally:
        await provider.aclose()
        control.close()
    report(
        args,
        options,
        cold_login,
        page_size=len(page),
        consultations=len(consultations),
        requests=requests,
        seconds=fetch_seconds,
    )


def clinic_midnight(now_text: str, zone: ZoneInfo) -> datetime:
    """Start of the simulator's current day in the clinic's zone."""
    now = datetime.strptime(now_text, "%Y-%m-%d %H:%M:%S").replace(tzinfo=zone)
    return now.replace(hour=0, minute=0, second=0, microsecond=0)


def report(
    args: argparse.Namespace,
    options: IdexxOptions,
    cold_login: float,
    *,
    page_size: int,
    consultations: int,
    requests: int,
    seconds: float,
) -> None:
    rate, concurrency = options.rate_limit_per_second, options.max_concurrency
    latency = args.latency_ms / 1000
    ideal = max(requests / rate, requests * latency / concurrency)
    ratio = seconds / ideal
    print(f"cold login (Chromium launch + login):   {cold_login:6.2f} s")
    print(
        f"fetch {args.days} days of calendar ({page_size} appointments,"
        f" {args.days if args.per_day else 1} request(s))"
        f" + {consultations} consultations"
    )
    print(f"  at latency {args.latency_ms} ms, concurrency {concurrency}, rate {rate:g}/s")
    print(f"  requests sent:                         {requests}")
    print(f"  elapsed:                               {seconds:6.2f} s")
    print(
        f"  ideal max({requests}/{rate:g}, {requests}x{latency:g}/{concurrency}):"
        f"{' ' * 6}{ideal:6.2f} s"
    )
    print(f"  ratio elapsed/ideal:                   {ratio:6.3f}  (bar <= {RATIO_BAR})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--latency-ms", type=int, default=300)
    parser.add_argument("--consultations", type=int, default=300)
    parser.add_argument("--days", type=int, default=15)
    parser.add_argument(
        "--per-day", action="store_true", help="one calendar request per day instead of one"
    )
    parser.add_argument("--profile", choices=["standard", "wild"], default="standard")
    args = parser.parse_args()
    print(f"simulator profile: {args.profile}")
    with BackgroundSimulator(SimulatorConfig(profile=args.profile)) as sim, PeakPss() as memory:
        asyncio.run(run(args, sim))
    print(f"peak PSS, whole process tree (browser included): {memory.peak / 2**20:6.1f} MiB")
    for kind, pss in memory.peak_parts.items():
        print(f"  {kind:<22} {pss / 2**20:6.1f} MiB")


if __name__ == "__main__":
    main()
