"""One `pims-sync serve`: each fire time once on SQLite; SIGTERM mid-run (SQLite and Postgres)."""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.adapters.sql.tables import cases
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.scheduling.harness import (
    assert_each_fire_time_once,
    assert_never_two_runs_of_a_clinic,
    fires,
    rows,
    seed_clinics,
    spawn_serve,
    top_runs,
    wait_for,
)

pytestmark = pytest.mark.browser
EVERY_10_S = {"type": "inbound", "cron": "*/10 * * * * *", "options": {"daysAhead": 1}}


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(SimulatorConfig(clinics=3, timezone="America/Chicago")) as sim:
        yield sim


def test_one_process_on_sqlite_runs_each_fire_time_once(
    tmp_path: Path, simulator: BackgroundSimulator
) -> None:
    url = f"sqlite:///{tmp_path / 'pims-sync.db'}"
    serve = spawn_serve(url, simulator, tmp_path, "embedded")  # migrates the SQLite file
    clinics = seed_clinics(url, simulator, 3, EVERY_10_S)
    wait_for(
        lambda: len([f for f in fires(url) if f.status == "completed"]) >= 9, 60, serve.output()
    )
    status = httpx.get(f"http://127.0.0.1:{serve.port}/health", timeout=5)
    assert status.status_code == 200
    assert serve.stop() == 0, serve.output()

    recorded = fires(url)
    assert_each_fire_time_once(recorded, clinics)
    runs = {r.id: r for r in top_runs(url)}
    assert_never_two_runs_of_a_clinic(list(runs.values()))
    for fire in recorded:
        assert fire.status in ("completed", "skipped", "failed"), fire
        if fire.run_id is not None:
            assert runs[fire.run_id].triggered_by == "scheduler"
            assert runs[fire.run_id].status == (
                "completed" if fire.status == "completed" else "failed"
            )
        else:
            assert fire.status == "skipped", fire
            assert fire.reason, fire
    assert {r.triggered_by for r in runs.values()} == {"scheduler"}


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_sigterm_during_a_run_fails_it_as_interrupted_and_exits_0(
    tmp_path: Path, simulator: BackgroundSimulator, backend: str, request: pytest.FixtureRequest
) -> None:
    if backend == "sqlite":
        url = f"sqlite:///{tmp_path / 'pims-sync.db'}"
    else:  # the same through procrastinate's worker
        url = str(request.getfixturevalue("postgres_url"))
        upgrade_database(url)
    # The calendar answers after 12 s: the run is still fetching when the grace (2 s) ends.
    httpx.post(
        f"{simulator.base_url}/__sim__/faults",
        json={"endpoint": "calendar", "latencyMs": 12_000, "rate": 1.0},
        timeout=5,
    ).raise_for_status()
    serve = spawn_serve(url, simulator, tmp_path, "sigterm", SHUTDOWN_GRACE_SECONDS="2")
    [clinic] = seed_clinics(url, simulator, 1, {"type": "full", "cron": "* * * * * *"})
    wait_for(lambda: any(r.status == "in_progress" for r in top_runs(url)), 60, serve.output())
    stopped = time.monotonic()
    assert serve.stop(signal.SIGTERM) == 0, serve.output()
    assert time.monotonic() - stopped < 20

    [run] = top_runs(url)
    assert (run.clinic_id, run.status, run.error_message) == (
        clinic,
        "failed",
        "interrupted by shutdown",
    )
    assert run.triggered_by == "scheduler"
    [fire] = [f for f in fires(url) if f.run_id == run.id]
    assert (fire.status, fire.reason) == ("failed", "interrupted by shutdown")
    # Nothing half-written: the calendar never arrived, so no case was written at all.
    assert rows(url, cases) == []
