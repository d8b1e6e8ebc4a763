"""Processes the process-level faults act on: the simulator, a private Postgres, `serve`.

The fault tests kill these for real (SIGKILL, SIGTERM, `pg_ctl restart`), so each runs as
its own OS process: the simulator as `pims-sync simulator` (restarted on the same port with
the same seed and frozen clock, it serves the same world), a throwaway Postgres cluster
the tests own (the shared test server is never restarted), and `pims-sync serve` started
by the scheduling harness. `World` reads what the service wrote and compares it with the
simulator's truth.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine, create_engine, select

from pims_sync.adapters.sql import tables
from pims_sync.adapters.sql.engine import driver_url
from pims_sync.bootstrap import build_services
from pims_sync.domain.cases import external_id
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.settings import load_settings
from tests.integration.scheduling.harness import KEY, free_port, wait_for

ZONE = ZoneInfo("America/Los_Angeles")
SEED = 42
USERNAME, PASSWORD, COMPANY = "vet@example.com", "simulator-password", "1001"
# The world is frozen at the moment the module starts: every restart serves the same one,
# and the service's "today" (real time) is the simulator's.
FROZEN_AT = datetime.now(ZONE).replace(microsecond=0)
TODAY = FROZEN_AT.date()
WINDOW = {"daysAhead": 1, "lookbackDays": 1}
FIRST, LAST = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
# A restart as a managed Postgres does one: down for a couple of seconds, so a run that
# writes every second (progress) surely meets the outage, and one waiting on the PIMS not.
RESTART_DOWNTIME = 2.0
SIMULATOR_MAIN = """
import sys
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import serve
port, seed, zone = sys.argv[1:4]
serve(SimulatorConfig(port=int(port), seed=int(seed), timezone=zone))
"""


class SimProcess:
    """`pims-sync simulator` as a child process on a fixed port: killable, restartable."""

    def __init__(self, workdir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._log = workdir / "simulator.log"
        self.process: subprocess.Popen[bytes] | None = None
        self.control = httpx.Client(base_url=f"{self.base_url}/__sim__", timeout=10)

    def start(self) -> None:
        """Serve the seed's world, its clock frozen at FROZEN_AT."""
        # What `pims-sync simulator` runs, without importing the service's CLI.
        command = [sys.executable, "-c", SIMULATOR_MAIN, str(self.port), str(SEED), str(ZONE)]
        with self._log.open("ab") as out:
            self.process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        wait_for(self._answers, 30, f"the simulator did not start: {self._log.read_text()}")
        self.post("/clock", {"now": FROZEN_AT.strftime("%Y-%m-%d %H:%M:%S"), "frozen": True})

    def _answers(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"simulator exited: {self._log.read_text()}")
        try:
            return self.control.get("/clock").status_code == 200
        except httpx.TransportError:
            return False

    def kill(self) -> None:
        """SIGKILL: connections drop, nothing is answered any more."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.control.post(path, json=body or {})
        assert response.status_code < 300, response.text
        return response.json()

    def slow(self, endpoint: str, latency_ms: int) -> None:
        """Every request to the endpoint waits, so a phase lasts long enough to be hit."""
        self.post("/faults", {"clear": True})
        self.post("/faults", {"endpoint": endpoint, "latencyMs": latency_ms, "rate": 1.0})

    def calm(self) -> None:
        self.post("/faults", {"clear": True})

    def logins(self) -> int:
        """Successful logins so far (a run's phase starts right after its login)."""
        return int(self.control.get("/stats").json()["logins"])

    def appointments(self) -> dict[str, dict[str, Any]]:
        """The truth in the window: appointments (no blocks, rosters) by case external id."""
        events = self.control.get(
            "/appointments", params={"start": FIRST.isoformat(), "end": LAST.isoformat()}
        ).json()
        return {
            external_id(str(e["id"])): e for e in events if not e["is_block"] and not e["is_roster"]
        }

    def close(self) -> None:
        self.kill()
        self.control.close()


class PrivatePostgres:
    """A throwaway cluster of our own, so restarting it disturbs no other test."""

    def __init__(self, root: Path) -> None:
        self.bindir = _postgres_bindir()
        self.root = root
        self.data = root / "data"
        self.port = free_port()
        self.url = f"postgresql://postgres@127.0.0.1:{self.port}/postgres"
        self._owner: list[str] = []
        if os.geteuid() == 0:
            # initdb refuses root: the cluster belongs to the postgres user (as ensure-postgres.sh).
            if subprocess.run(["id", "postgres"], capture_output=True).returncode != 0:
                subprocess.run(["useradd", "--system", "--no-create-home", "postgres"], check=True)
            shutil.chown(root, "postgres")
            self._owner = ["runuser", "-u", "postgres", "--"]

    def _pg(self, tool: str, *args: str) -> None:
        command = [*self._owner, str(self.bindir / tool), *args]
        # No pipes: the server pg_ctl starts would hold them open (its output goes to -l).
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL, timeout=60)

    def start(self) -> None:
        self._pg("initdb", "-A", "trust", "-U", "postgres", "-D", str(self.data))
        log = str(self.root / "log")
        self._pg("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", self._options(), "start")

    def restart(self, downtime: float = RESTART_DOWNTIME) -> None:
        """`pg_ctl stop -m fast` (every connection cut), `downtime` seconds, then start."""
        self._pg("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "stop")
        time.sleep(downtime)
        log, options = str(self.root / "log"), self._options()
        self._pg("pg_ctl", "-D", str(self.data), "-l", log, "-w", "-o", options, "start")

    def _options(self) -> str:
        return f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off"

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._pg("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")


def _postgres_bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=_version)
    if not candidates:
        raise FileNotFoundError("initdb not found (install Debian's postgresql package)")
    return candidates[-1].parent


def _version(path: Path) -> tuple[int, ...]:
    return tuple(int(p) for p in path.parent.parent.name.split(".") if p.isdigit())


async def _seed(url: str, sim_url: str) -> tuple[uuid.UUID, str]:
    services = build_services(load_settings(database_url=url, encryption_key=KEY))
    try:
        clinic = await services.clinics.add(name="Fault Clinic", timezone=str(ZONE))
        credentials = PimsCredentials(
            username=USERNAME, password=PASSWORD, company_id=COMPANY, base_url=sim_url
        )
        await services.vault.save(clinic.id, credentials)
        _, key = await services.api_keys.create(clinic_id=clinic.id, name="faults")
    finally:
        await services.aclose()
    return clinic.id, key


@dataclass
class Invariants:
    """The promise, counted: cases lost, duplicated, wrongly soft-deleted, half-written."""

    lost: int
    duplicated: int
    spurious_deletes: int
    without_patient: int
    cases: int

    @property
    def clean(self) -> bool:
        return not (self.lost or self.duplicated or self.spurious_deletes or self.without_patient)


class World:
    """One clinic in one database, synced from the simulator: what the service wrote."""

    def __init__(self, url: str, sim: SimProcess) -> None:
        self.url = url
        self.sim = sim
        self.clinic_id, self.key = asyncio.run(_seed(url, sim.base_url))
        # Pre-ping: the test's own connections survive the Postgres restart too.
        self.engine: Engine = create_engine(driver_url(url, asynchronous=False), pool_pre_ping=True)
        # The truth is read while the simulator is up; faults never change the world.
        self.truth = sim.appointments()

    def client(self, port: int) -> httpx.Client:
        return httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"X-API-Key": self.key},
            timeout=httpx.Timeout(120.0),
        )

    def audit(self, run_id: str | uuid.UUID) -> dict[str, Any]:
        audits = tables.case_sync_audits
        with self.engine.connect() as conn:
            row = conn.execute(select(audits).where(audits.c.id == uuid.UUID(str(run_id))))
            return dict(row.mappings().one())

    def children(self, run_id: str | uuid.UUID) -> list[dict[str, Any]]:
        audits = tables.case_sync_audits
        query = (
            select(audits)
            .where(audits.c.parent_id == uuid.UUID(str(run_id)))
            .order_by(audits.c.created_at)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def live_runs(self) -> list[dict[str, Any]]:
        audits = tables.case_sync_audits
        query = select(audits).where(
            audits.c.clinic_id == self.clinic_id, audits.c.status == "in_progress"
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def case_rows(self) -> list[dict[str, Any]]:
        """Every case of the clinic with its patient rows counted (an outer join)."""
        cases, patients = tables.cases, tables.patients
        query = (
            select(cases.c.id, cases.c.external_id, cases.c.metadata, patients.c.id.label("pid"))
            .outerjoin(patients, patients.c.case_id == cases.c.id)
            .where(cases.c.clinic_id == self.clinic_id)
        )
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(query).mappings()]

    def check(self, *, expect_complete: bool) -> Invariants:
        """Compare with the simulator's truth; `lost` counts only when the run was to finish."""
        truth = self.truth
        rows = self.case_rows()
        per_case = Counter(r["id"] for r in rows)
        per_external = Counter(r["external_id"] for r in {r["id"]: r for r in rows}.values())
        deleted = {
            r["external_id"]
            for r in rows
            if (r["metadata"] or {}).get("reconciliation", {}).get("softDeleted")
        }
        return Invariants(
            lost=len(set(truth) - set(per_external)) if expect_complete else 0,
            duplicated=sum(n - 1 for n in per_external.values() if n > 1)
            + sum(n - 1 for n in per_case.values() if n > 1),
            spurious_deletes=len(deleted & set(truth)),
            without_patient=sum(1 for r in rows if r["pid"] is None),
            cases=len(per_external),
        )

    def unenriched(self) -> int:
        """Past cases with a consultation the simulator has that carry no consultation yet."""
        truth = self.truth
        rows = {r["external_id"]: r for r in self.case_rows()}
        past = [
            key
            for key, e in truth.items()
            if e.get("consultation_id") and _wall(e["start"]) <= FROZEN_AT
        ]
        return sum(1 for key in past if "pimsConsultation" not in (rows[key]["metadata"] or {}))

    def close(self) -> None:
        self.engine.dispose()


def _wall(text: str) -> datetime:
    """A simulator wall-clock time as the clinic's instant."""
    return datetime.fromisoformat(text).replace(tzinfo=ZONE)


def days(first: date, last: date) -> dict[str, str]:
    return {"startDate": first.isoformat(), "endDate": last.isoformat()}


def start_async(client: httpx.Client, kind: str, body: dict[str, Any]) -> str:
    """POST /api/sync/<kind> with async: true; the run's id."""
    response = client.post(f"/api/sync/{kind}", json={**body, "async": True})
    assert response.status_code == 202, response.text
    return str(response.json()["syncId"])


def wait_ended(world: World, run_id: str, timeout: float = 90) -> dict[str, Any]:
    """The run's audit row once it is no longer in progress."""
    wait_for(lambda: world.audit(run_id)["status"] != "in_progress", timeout, f"run {run_id}")
    return world.audit(run_id)


def wait_mid_phase(world: World, run_id: str, phase: str, logins_before: int) -> None:
    """Until the run is inside `phase`: in its slowed calendar request, or cases written.

    A new clinic logs in first (inbound, full); a prepared one reuses its cached session.
    """
    sim = world.sim
    if phase in ("inbound", "full"):
        wait_for(lambda: sim.logins() > logins_before, 60, "the run never logged in")
    if phase in ("inbound", "reconcile"):
        time.sleep(1.0)  # inside the calendar request, which takes seconds
        return

    def busy() -> bool:
        rows = [world.audit(run_id), *world.children(run_id)]
        row = next((r for r in rows if r["sync_type"] == "cases"), None)
        if row is None or row["status"] != "in_progress":
            return False
        return 0 < (row["processed_items"] or 0) < (row["total_items"] or 0)

    wait_for(busy, 60, f"the {phase} run never got inside its cases phase")
