"""Real `pims-sync serve` processes against the simulator, and what the database says."""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from uuid import UUID

import httpx
from sqlalchemy import select

from pims_sync.adapters.sql.engine import create_sync_db_engine
from pims_sync.adapters.sql.tables import case_sync_audits, schedule_fires
from pims_sync.bootstrap import build_services
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.settings import load_settings
from pims_sync.simulator.server import BackgroundSimulator
from tests.log_scan import feed_file

KEY = "scheduling-test-key-0123456789abcdefghij"
CONFIG_VARIABLES = (
    "DATABASE_URL",
    "SUPABASE_DB_URL",
    "SUPABASE_URL",
    "ENCRYPTION_KEY",
    "IDEXX_ENCRYPTION_KEY",
    "ENCRYPTION_KEY_PREVIOUS",
    "PORT",
    "HOST",
    "ENVIRONMENT",
    "NODE_ENV",
    "IDEXX_BASE_URL",
    "LOG_LEVEL",
    "ENABLE_SCHEDULER",
)
# Short periods so a few minutes of production behaviour take seconds.
FAST = {
    "SCHEDULER_TICK_SECONDS": "1",
    "SCHEDULE_MIN_INTERVAL_SECONDS": "1",  # the tests' schedules fire every few seconds
    "RUN_STALE_SECONDS": "6",
    "SHUTDOWN_GRACE_SECONDS": "3",
    "WORKER_CONCURRENCY": "4",
}


async def _seed(
    url: str, sim: BackgroundSimulator, count: int, schedule: dict[str, Any]
) -> list[UUID]:
    services = build_services(load_settings(database_url=url, encryption_key=KEY))
    try:
        ids = []
        for index, company in enumerate(sim.config.company_ids()[:count]):
            clinic = await services.clinics.add(name=f"Clinic {index}", timezone="America/Chicago")
            credentials = PimsCredentials(
                username=sim.config.username,
                password=sim.config.password,
                company_id=company,
                base_url=sim.base_url,
            )
            await services.vault.save(clinic.id, credentials)
            await services.schedules.put(clinic.id, [schedule])
            ids.append(clinic.id)
        return ids
    finally:
        await services.aclose()


def seed_clinics(
    url: str, sim: BackgroundSimulator, count: int, schedule: dict[str, Any]
) -> list[UUID]:
    """Clinics with simulator credentials and one schedule each."""
    return asyncio.run(_seed(url, sim, count, schedule))


def free_port() -> int:
    """A TCP port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Serve:
    """One `pims-sync serve` process."""

    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def name(self) -> str:
        """The name it records on fires (host:pid)."""
        return f"{socket.gethostname()}:{self.process.pid}"

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Send a signal and wait for the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=timeout)

    def output(self) -> str:
        """What it logged."""
        return self.log.read_text(errors="replace")


def spawn_serve(
    url: str,
    sim: BackgroundSimulator,
    tmp_path: Path,
    label: str,
    *args: str,
    ready_seconds: float = 60.0,
    **extra: str,
) -> Serve:
    """Start `pims-sync serve` (or `args`, e.g. "worker") on a free port; wait until it is up."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.update(FAST)
    env.update(
        DATABASE_URL=url,
        ENCRYPTION_KEY=KEY,
        HOST="127.0.0.1",
        PORT=str(port),
        IDEXX_BASE_URL=sim.base_url,
        LOG_LEVEL="info",
    )
    env.update(extra)
    log = tmp_path / f"serve-{label}.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "pims_sync", *(args or ("serve",))],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    serve = Serve(process, port, log)
    feed_file(log, f"pims-sync {args[0] if args else 'serve'} ({label})")  # scanned for secrets
    if args and args[0] == "worker":
        wait_for(
            lambda: "runtime started" in serve.output(), ready_seconds, f"worker: {serve.output()}"
        )
    else:
        wait_for(
            lambda: _healthy(serve),
            ready_seconds,
            f"serve {label} did not start:\n{serve.output()}",
        )
    return serve


def _healthy(serve: Serve) -> bool:
    if serve.process.poll() is not None:
        raise AssertionError(f"serve exited {serve.process.returncode}:\n{serve.output()}")
    try:
        return httpx.get(f"http://127.0.0.1:{serve.port}/health", timeout=1).status_code < 600
    except httpx.HTTPError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, message: str = "") -> None:
    """Poll until the condition holds, else fail with the message."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(message or "condition not met in time")
        time.sleep(0.25)


def rows(url: str, table: Any) -> list[Any]:
    """Every row of a table."""
    engine = create_sync_db_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(table)))
    finally:
        engine.dispose()


def fires(url: str) -> list[Any]:
    """schedule_fires, in fire order."""
    return sorted(rows(url, schedule_fires), key=lambda r: (r.fire_at, str(r.clinic_id)))


def top_runs(url: str) -> list[Any]:
    """Top-level audit rows."""
    return [r for r in rows(url, case_sync_audits) if r.parent_id is None]


def assert_never_two_runs_of_a_clinic(runs: Sequence[Any]) -> None:
    """No two top-level runs of one clinic overlap in time."""
    by_clinic: dict[UUID, list[Any]] = defaultdict(list)
    for run in runs:
        by_clinic[run.clinic_id].append(run)
    for clinic, mine in by_clinic.items():
        mine.sort(key=lambda r: r.started_at)
        for first, second in itertools.pairwise(mine):
            assert first.completed_at is not None, f"clinic {clinic}: run {first.id} never ended"
            assert first.completed_at <= second.started_at, f"clinic {clinic}: runs overlap"


def assert_each_fire_time_once(all_fires: Sequence[Any], clinics: Sequence[UUID]) -> None:
    """Every clinic's fire times are a gap-free series of 10 s, each recorded once."""
    for clinic in clinics:
        times = [f.fire_at for f in all_fires if f.clinic_id == clinic]
        assert len(times) == len(set(times))
        gaps = {(b - a).total_seconds() for a, b in itertools.pairwise(times)}
        assert gaps <= {10.0}, f"clinic {clinic}: fire times missing ({sorted(gaps)})"


def iter_started(all_fires: Sequence[Any]) -> Iterator[Any]:
    """Fires whose run started."""
    return (f for f in all_fires if f.run_id is not None)


def after(moment: datetime, all_fires: Sequence[Any]) -> list[Any]:
    """Fires later than a moment."""
    return [f for f in all_fires if f.fire_at > moment]
