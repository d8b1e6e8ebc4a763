"""The fault matrix, process level: the simulator killed, Postgres restarted, the service
SIGTERMed or killed -9, each while a real run is inside a phase.

Every cell starts a run over HTTP against a real `pims-sync serve` process (real Chromium,
the simulator as its own process, Postgres), lands the fault in the middle of the phase
(the simulator's latency faults keep the phase busy; the test waits for the run's login and,
for cases, for its first written progress), then records what happened and checks the
promise: the outcome the service promises, the audit rows closed, no case lost or duplicated
after a clean recovery run, no soft-delete of an appointment that still exists, and no case
without its patient row (no half-written batch). Each cell syncs its own new clinic (same
simulated practice), so cells do not inherit each other's state.

Cost: one `serve` per database, plus one more after each SIGTERM or kill -9 (it also runs
that cell's recovery); the simulator is restarted after each kill. KEEP_FAULT_WORKDIR=1
keeps the processes' logs (under /tmp/pims-sync-faults-*) for a look after a failure.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import httpx
import psycopg
import pytest
from sqlalchemy.engine import make_url

from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.adapters.sql.runs import CLOSE_RETRY_DELAYS
from tests.conftest import migrated_database
from tests.integration.scheduling.harness import Serve, spawn_serve, wait_for
from tests.reliability.process_stack import (
    FIRST,
    LAST,
    RESTART_DOWNTIME,
    TODAY,
    WINDOW,
    Invariants,
    PrivatePostgres,
    SimProcess,
    World,
    days,
    start_async,
    wait_ended,
    wait_mid_phase,
)
from tests.reliability.report import FaultReport, FaultRow

if TYPE_CHECKING:
    from pims_sync.simulator.server import BackgroundSimulator

pytestmark = [pytest.mark.postgres, pytest.mark.browser]

PHASES = ("inbound", "cases", "reconcile", "full")
# What each cell's faulted run asks for, and which endpoint is slowed to keep it busy.
RUN_BODY: dict[str, dict[str, Any]] = {
    "inbound": days(FIRST, LAST),
    "cases": {**days(FIRST, TODAY), "parallelBatchSize": 2},
    "reconcile": {"lookbackDays": 1},
    "full": WINDOW,
}
SLOWED: dict[str, tuple[str, int]] = {
    "inbound": ("calendar", 6000),
    "cases": ("page-data", 500),
    "reconcile": ("calendar", 6000),
    "full": ("page-data", 1000),
}
# Short periods (a run is stale after 4 s of silence, 2 s of shutdown grace), a faster PIMS.
SERVE_ENV = {
    "PIMS_RATE_LIMIT_PER_SECOND": "50",
    "RUN_STALE_SECONDS": "4",
    "SHUTDOWN_GRACE_SECONDS": "2",
}
# A restarted cluster can take seconds to accept connections on a busy machine (tests run
# in parallel): the restart cells must not take the live run's missed heartbeats for a
# dead process, which is what the kill cells test.
RESTART_SERVE_ENV = {**SERVE_ENV, "RUN_STALE_SECONDS": "20"}
API_PATH = {"inbound": "inbound", "cases": "cases", "reconcile": "reconcile", "full": "full"}
CONVERGED = "recovery converged"


# --- fixtures ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    # Not pytest's tmp_path: a private cluster's files must be reachable by `postgres`.
    path = Path(tempfile.mkdtemp(prefix="pims-sync-faults-"))
    path.chmod(0o755)
    yield path
    if not os.environ.get("KEEP_FAULT_WORKDIR"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def sim(workdir: Path) -> Iterator[SimProcess]:
    simulator = SimProcess(workdir)
    simulator.start()
    yield simulator
    simulator.close()


@pytest.fixture(scope="module")
def shared_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A new database on the shared test server (never restarted here)."""
    directory = tmp_path_factory.mktemp("process-faults")
    with migrated_database("postgres", directory, "faults") as url:
        yield url


@pytest.fixture(scope="module")
def private_pg(workdir: Path) -> Iterator[PrivatePostgres]:
    root = workdir / "pg"
    root.mkdir()
    try:
        cluster = PrivatePostgres(root)
    except FileNotFoundError as missing:
        # `make test` installs Debian's postgresql when no server answers; a CI job with
        # only a Postgres service container has no initdb to make a cluster we may restart.
        pytest.skip(f"no private cluster: {missing}")
    cluster.start()
    try:
        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute('CREATE DATABASE "faults"')
        cluster.url = make_url(cluster.url).set(database="faults").render_as_string(False)
        upgrade_database(cluster.url)
        yield cluster
    finally:
        cluster.stop()


class Serves:
    """The module's `serve` processes: one current per database, and none left running."""

    def __init__(self, workdir: Path, sim: SimProcess) -> None:
        self.workdir, self.sim = workdir, sim
        self.started: list[Serve] = []
        self._current: dict[str, Serve] = {}

    def current(self, url: str, env: dict[str, str] | None = None) -> Serve:
        """The running `serve` of this database; a new one when the last was stopped."""
        serve = self._current.get(url)
        if serve is None or serve.process.poll() is not None:
            # spawn_serve reads only the simulator's base_url.
            simulator = cast("BackgroundSimulator", self.sim)
            label = f"{len(self.started)}"
            serve = spawn_serve(url, simulator, self.workdir, label, **(env or SERVE_ENV))
            self.started.append(serve)
            self._current[url] = serve
        return serve

    def stop_all(self) -> None:
        for serve in self.started:
            if serve.process.poll() is None:
                serve.process.kill()
                serve.process.wait(timeout=10)


@pytest.fixture(scope="module")
def serves(workdir: Path, sim: SimProcess) -> Iterator[Serves]:
    every = Serves(workdir, sim)
    yield every
    every.stop_all()


@pytest.fixture
def calm_simulator(sim: SimProcess) -> Iterator[SimProcess]:
    """The simulator running, without faults, before and after each cell."""
    if sim.process is None or sim.process.poll() is not None:
        sim.start()
    sim.calm()
    yield sim
    if sim.process is None or sim.process.poll() is not None:
        sim.start()
    sim.calm()


# --- one cell ---------------------------------------------------------------------------


def prepare(world: World, client: httpx.Client, phase: str) -> None:
    """Cases and reconciliation work on cases inbound wrote first (a clean run)."""
    if phase in ("cases", "reconcile"):
        response = client.post("/api/sync/inbound", json=days(FIRST, LAST))
        assert response.status_code == 200, response.text


def start_faulted_run(world: World, client: httpx.Client, phase: str) -> str:
    """Slow the phase's endpoint, start the run, return once it is inside the phase."""
    endpoint, latency = SLOWED[phase]
    world.sim.slow(endpoint, latency)
    logins = world.sim.logins()
    run_id = start_async(client, API_PATH[phase], RUN_BODY[phase])
    wait_mid_phase(world, run_id, phase, logins)
    return run_id


def audit_text(world: World, run_id: str) -> str:
    """The run's audit row (and its phases'), as the report shows it."""
    top = world.audit(run_id)
    text = f"{top['status']}: {top['error_message'] or '-'}"
    children = world.children(run_id)
    if children:
        parts = [f"{c['sync_type']} {c['status']}" for c in children]
        text += " [" + ", ".join(parts) + "]"
    return text


def recover(world: World, client: httpx.Client) -> tuple[Invariants, str]:
    """A clean full run after the fault: it must succeed and leave the clinic converged."""
    response = client.post("/api/sync/full", json=WINDOW)
    invariants = world.check(expect_complete=True)
    unenriched = world.unenriched()
    if response.status_code != 200 or not response.json().get("success"):
        return invariants, f"recovery run failed ({response.status_code})"
    if not invariants.clean or unenriched:
        return invariants, f"recovery diverged ({unenriched} not enriched)"
    return invariants, CONVERGED


def record(
    report: FaultReport,
    *,
    fault: str,
    phase: str,
    expected: str,
    observed: str,
    before: Invariants,
    after: Invariants,
    audit: str,
) -> FaultRow:
    """One row: deletes and duplicates seen at any point count, losses after recovery."""
    row = FaultRow(
        fault=fault,
        phase=phase,
        expected=expected,
        observed=observed,
        lost=after.lost,
        duplicated=max(before.duplicated, after.duplicated),
        spurious_deletes=max(before.spurious_deletes, after.spurious_deletes),
        audit=audit,
        backend="postgres",
    )
    return report.record(row)


def assert_clean(row: FaultRow, before: Invariants, after: Invariants) -> None:
    assert row.observed == row.expected, row
    assert before.without_patient == 0, f"a half-written batch is visible: {before}"
    assert (row.lost, row.duplicated, row.spurious_deletes) == (0, 0, 0), (row, before, after)


def pims_unreachable(message: str | None) -> bool:
    return bool(message) and "unreachable" in str(message).lower()


# --- 1. the simulator killed mid-phase ----------------------------------------------------

SIM_KILLED = "simulator killed"
SIM_EXPECTED = f"run failed (PIMS unreachable); nothing deleted; {CONVERGED}"


@pytest.mark.parametrize("phase", PHASES)
def test_simulator_killed_mid_phase(
    phase: str,
    calm_simulator: SimProcess,
    serves: Serves,
    shared_url: str,
    fault_report: FaultReport,
) -> None:
    sim_serve = serves.current(shared_url)
    fault_report.describe(
        SIM_KILLED,
        "the simulator runs as its own process (what `pims-sync simulator` runs); once the "
        "run is inside the phase (calendar or page-data slowed by a latency fault) it gets "
        "SIGKILL, so open requests drop and new ones are refused. Expected "
        "([pipeline](pipeline.md#every-run)): the run fails with `pims_unavailable`, nothing "
        "is soft-deleted (a failed PIMS fetch deletes nothing). The simulator is then started"
        " again with the same seed and frozen clock (the same world) and a clean full run "
        "must converge.",
    )
    sim = calm_simulator
    world = World(shared_url, sim)
    with world.client(sim_serve.port) as client:
        prepare(world, client, phase)
        run_id = start_faulted_run(world, client, phase)
        sim.kill()
        top = wait_ended(world, run_id)
        before = world.check(expect_complete=False)
        failures = [top, *(c for c in world.children(run_id) if c["status"] == "failed")]
        failed_clearly = top["status"] == "failed" and all(
            pims_unreachable(row["error_message"]) for row in failures
        )
        audit = audit_text(world, run_id)
        sim.start()
        sim.calm()
        after, recovered = recover(world, client)
    first = "run failed (PIMS unreachable)" if failed_clearly else f"run {audit}"
    deleted = "nothing deleted" if before.spurious_deletes == 0 else "cases deleted"
    row = record(
        fault_report,
        fault=SIM_KILLED,
        phase=phase,
        expected=SIM_EXPECTED,
        observed=f"{first}; {deleted}; {recovered}",
        before=before,
        after=after,
        audit=audit,
    )
    world.close()
    assert_clean(row, before, after)


# --- 2. Postgres restarted mid-phase ---------------------------------------------------------

PG_RESTARTED = "Postgres restarted"
# Inbound and reconciliation are waiting on the slowed calendar while Postgres is down: the
# pool reconnects and they complete. Cases (alone or in a full run) write progress every
# second: that write meets the outage and the run fails, saying so.
PG_COMPLETES = "completed (pool reconnected)"
PG_FAILS = "failed (the database could not …)"
PG_OUTCOME = {"inbound": PG_COMPLETES, "cases": PG_FAILS, "reconcile": PG_COMPLETES}
PG_OUTCOME["full"] = PG_FAILS


def database_outcome(rows: list[dict[str, Any]]) -> str:
    """What the run did: completed, failed with the storage message, or something else."""
    top = rows[0]
    if any(r["status"] == "in_progress" for r in rows):
        return "left in progress"
    if top["status"] == "completed":
        return PG_COMPLETES
    failed = [r for r in rows if r["status"] == "failed"]
    if all("the database could not" in (r["error_message"] or "") for r in failed):
        return PG_FAILS
    return f"failed: {top['error_message']}"


@pytest.mark.parametrize("phase", PHASES)
def test_postgres_restarted_mid_phase(
    phase: str,
    calm_simulator: SimProcess,
    serves: Serves,
    private_pg: PrivatePostgres,
    fault_report: FaultReport,
) -> None:
    fault_report.describe(
        PG_RESTARTED,
        "`pims-sync serve` works on a private Postgres cluster the test started itself (the "
        "shared test server is never touched); once the run is inside the phase, the cluster "
        "is stopped (`pg_ctl stop -m fast`: every connection is cut) and started again "
        f"{RESTART_DOWNTIME:g} s later. Either outcome keeps the service's promise "
        "([deploy](deploy.md#shutdown-and-crash-recovery)); which one depends on "
        "what the run was doing: a run waiting on the PIMS meanwhile completes (the pool "
        "pings and reconnects), a run whose write meets the outage fails with `the database "
        "could not …` (`storage_unavailable`). Either way every audit row is closed (the "
        f"close is retried for {sum(CLOSE_RETRY_DELAYS):g} s, longer than this outage), the "
        "same process keeps serving "
        "(`/ready` answers 200 again), and a clean full sync converges.",
    )
    world = World(private_pg.url, calm_simulator)
    serve = serves.current(private_pg.url, RESTART_SERVE_ENV)
    base = f"http://127.0.0.1:{serve.port}"
    with world.client(serve.port) as client:
        prepare(world, client, phase)
        run_id = start_faulted_run(world, client, phase)
        private_pg.restart()
        top = wait_ended(world, run_id)
        rows = ended_rows(world, run_id)
        before = world.check(expect_complete=False)
        calm_simulator.calm()
        ready = _ready_again(base)
        after, recovered = recover(world, client)
    audit = audit_text(world, run_id)
    serving = "serving after" if ready and serve.process.poll() is None else "not serving"
    row = record(
        fault_report,
        fault=PG_RESTARTED,
        phase=phase,
        expected=f"{PG_OUTCOME[phase]}; audit closed; serving after; {CONVERGED}",
        observed=f"{database_outcome(rows)}; audit closed; {serving}; {recovered}",
        before=before,
        after=after,
        audit=audit,
    )
    world.close()
    assert top["completed_at"] is not None
    assert_clean(row, before, after)


def _ready_again(base: str) -> bool:
    """GET /ready answers 200 within a few seconds of the restart."""
    try:
        wait_for(lambda: httpx.get(f"{base}/ready", timeout=5).status_code == 200, 20)
    except AssertionError:
        return False
    return True


# --- 3. and 4. the service stopped mid-phase: SIGTERM, then kill -9 --------------------------

SIGTERM = "SIGTERM of the service"
SIGTERM_EXPECTED = f"run failed (interrupted by shutdown); exit 0; nothing deleted; {CONVERGED}"
KILLED = "kill -9 of the service"
KILLED_EXPECTED = f"run marked abandoned on restart; no half batch; nothing deleted; {CONVERGED}"


def ended_rows(world: World, run_id: str) -> list[dict[str, Any]]:
    """The run's audit row and its phases' rows."""
    return [world.audit(run_id), *world.children(run_id)]


def all_closed_with(rows: list[dict[str, Any]], message: str) -> bool:
    """No row left in progress, the top one and every failed phase with this message."""
    top, failed = rows[0], [r for r in rows if r["status"] == "failed"]
    return (
        top["status"] == "failed"
        and all(r["status"] != "in_progress" for r in rows)
        and all(r["error_message"] == message for r in failed)
    )


@pytest.mark.parametrize("phase", PHASES)
def test_sigterm_mid_phase(
    phase: str,
    calm_simulator: SimProcess,
    serves: Serves,
    shared_url: str,
    fault_report: FaultReport,
) -> None:
    fault_report.describe(
        SIGTERM,
        "`pims-sync serve` runs as a process (Postgres, procrastinate worker, scheduler) with"
        " SHUTDOWN_GRACE_SECONDS=2; once an API run is inside the phase, the process gets "
        "SIGTERM. Expected ([deploy](deploy.md#shutdown-and-crash-recovery)): no new work, "
        "the running sync gets the grace, then is stopped and its audit rows (the full run's "
        "phases too) are failed `interrupted by shutdown`; the process exits 0. A new `serve`"
        " then runs a clean full sync that must converge.",
    )
    world = World(shared_url, calm_simulator)
    serve = serves.current(shared_url)
    with world.client(serve.port) as client:
        prepare(world, client, phase)
        run_id = start_faulted_run(world, client, phase)
        code = serve.stop(signal.SIGTERM, timeout=60)
        rows = ended_rows(world, run_id)
        before = world.check(expect_complete=False)
    calm_simulator.calm()
    interrupted = all_closed_with(rows, "interrupted by shutdown")
    with world.client(serves.current(shared_url).port) as client:
        after, recovered = recover(world, client)
    audit = audit_text(world, run_id)
    first = "run failed (interrupted by shutdown)" if interrupted else f"run {audit}"
    deleted = "nothing deleted" if before.spurious_deletes == 0 else "cases deleted"
    row = record(
        fault_report,
        fault=SIGTERM,
        phase=phase,
        expected=SIGTERM_EXPECTED,
        observed=f"{first}; exit {code}; {deleted}; {recovered}",
        before=before,
        after=after,
        audit=audit,
    )
    world.close()
    assert_clean(row, before, after)


@pytest.mark.parametrize("phase", PHASES)
def test_kill_9_mid_phase(
    phase: str,
    calm_simulator: SimProcess,
    serves: Serves,
    shared_url: str,
    fault_report: FaultReport,
) -> None:
    fault_report.describe(
        KILLED,
        "`pims-sync serve` gets SIGKILL while an API run is inside the phase: nothing of the "
        "process runs any more, its audit rows stay `in_progress`. Expected "
        "([deploy](deploy.md#shutdown-and-crash-recovery)): the next `serve` "
        "(RUN_STALE_SECONDS=4) marks them failed `abandoned` (the run's heartbeat stopped); "
        "every case written has its patient row (a batch is one transaction, so no half batch"
        " is visible); a clean full run then converges without duplicates.",
    )
    world = World(shared_url, calm_simulator)
    serve = serves.current(shared_url)
    with world.client(serve.port) as client:
        prepare(world, client, phase)
        run_id = start_faulted_run(world, client, phase)
        serve.stop(signal.SIGKILL, timeout=30)
    left = [r["status"] for r in ended_rows(world, run_id)]
    before = world.check(expect_complete=False)
    calm_simulator.calm()
    with world.client(serves.current(shared_url).port) as client:
        abandoned = False
        try:
            wait_for(
                lambda: all_closed_with(ended_rows(world, run_id), "abandoned"), 45, "abandoned"
            )
            abandoned = "in_progress" in left
        except AssertionError:
            pass
        after, recovered = recover(world, client)
    audit = audit_text(world, run_id)
    first = "run marked abandoned on restart" if abandoned else f"run {audit}"
    half = "no half batch" if before.without_patient == 0 else "half batch visible"
    deleted = "nothing deleted" if before.spurious_deletes == 0 else "cases deleted"
    row = record(
        fault_report,
        fault=KILLED,
        phase=phase,
        expected=KILLED_EXPECTED,
        observed=f"{first}; {half}; {deleted}; {recovered}",
        before=before,
        after=after,
        audit=audit,
    )
    world.close()
    assert_clean(row, before, after)
