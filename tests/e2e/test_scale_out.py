"""Scale-out on Postgres: three `pims-sync serve` processes share the schedules of four clinics.

Every fire time runs exactly once, no clinic ever has two runs at once (the audit rows
prove it), and when one process is killed (-9) mid-run, a survivor marks its run
abandoned and the clinic's next fire time still runs.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.scheduling.harness import (
    Serve,
    assert_each_fire_time_once,
    assert_never_two_runs_of_a_clinic,
    fires,
    seed_clinics,
    spawn_serve,
    top_runs,
    wait_for,
)

pytestmark = [pytest.mark.postgres, pytest.mark.browser]
EVERY_10_S = {"type": "inbound", "cron": "*/10 * * * * *", "options": {"daysAhead": 1}}
CLINICS = 4


@pytest.fixture
def database(postgres_url: str) -> str:
    upgrade_database(postgres_url)  # our tables and procrastinate's
    return postgres_url


@pytest.fixture
def simulator() -> Iterator[BackgroundSimulator]:
    config = SimulatorConfig(clinics=CLINICS, timezone="America/Chicago")
    with BackgroundSimulator(config) as sim:
        # A slow calendar keeps runs going for a few seconds: a kill can land mid-run.
        httpx.post(
            f"{sim.base_url}/__sim__/faults",
            json={"endpoint": "calendar", "latencyMs": 3000, "rate": 1.0},
            timeout=5,
        ).raise_for_status()
        yield sim


def _completed_per_clinic(url: str) -> dict[Any, int]:
    counts: dict[Any, int] = {}
    for fire in fires(url):
        if fire.status == "completed":
            counts[fire.clinic_id] = counts.get(fire.clinic_id, 0) + 1
    return counts


def _running_on(url: str, serves: list[Serve]) -> tuple[Serve, Any] | None:
    names = {s.name: s for s in serves}
    for fire in fires(url):
        if fire.status == "started" and fire.run_by in names:
            return names[fire.run_by], fire
    return None


def test_three_processes_run_each_fire_time_once_and_survive_a_kill(
    tmp_path: Path, database: str, simulator: BackgroundSimulator
) -> None:
    serves = [spawn_serve(database, simulator, tmp_path, f"p{i}") for i in range(3)]
    clinics = seed_clinics(database, simulator, CLINICS, EVERY_10_S)
    try:
        wait_for(
            lambda: (
                len(_completed_per_clinic(database)) == CLINICS
                and min(_completed_per_clinic(database).values()) >= 2
            ),
            120,
            "scheduled runs did not complete",
        )
        found: list[tuple[Serve, Any]] = []
        wait_for(lambda: bool(found.append(_running_on(database, serves)) or found[-1]), 60)
        victim, fire = found[-1]
        victim.process.kill()  # SIGKILL: no shutdown, the run stays in_progress
        killed_at = datetime.now(UTC)
        survivors = [s for s in serves if s is not victim]

        def abandoned() -> bool:
            run = next(r for r in top_runs(database) if r.id == fire.run_id)
            return run.status == "failed" and run.error_message == "abandoned"

        wait_for(abandoned, 60, "the killed process's run was not marked abandoned")
        wait_for(
            lambda: any(
                f.clinic_id == fire.clinic_id and f.fire_at > killed_at and f.status == "completed"
                for f in fires(database)
            ),
            60,
            "the clinic's next fire time did not run after the kill",
        )
        stopping_at = datetime.now(UTC)
        for serve in survivors:
            assert serve.stop(signal.SIGTERM) == 0, serve.output()
    finally:
        for serve in serves:
            if serve.process.poll() is None:
                serve.process.kill()

    recorded = fires(database)
    assert_each_fire_time_once(recorded, clinics)
    runs = {r.id: r for r in top_runs(database)}
    assert_never_two_runs_of_a_clinic(list(runs.values()))
    assert {r.triggered_by for r in runs.values()} == {"scheduler"}
    assert len({f.run_by for f in recorded if f.run_by}) >= 2  # the work was shared
    settled = next(f for f in recorded if f.id == fire.id)
    assert settled.status == "failed"
    assert settled.reason.startswith("abandoned")
    for each in recorded:
        if each.run_id is not None and each.status == "completed":
            assert runs[each.run_id].status == "completed"
        elif each.run_id is None and each.status == "queued":
            # A job queued just before the shutdown waits in the queue for the next worker.
            assert each.fire_at >= stopping_at - timedelta(seconds=15), each
        elif each.run_id is None and each.status == "failed":
            # The killed process had claimed this fire (or taken its job) but not started
            # a run yet: recovery closes it as abandoned, and it was in flight at the kill.
            assert (each.reason or "").startswith("abandoned"), each
            assert each.claimed_at <= killed_at, each
        elif each.run_id is None:
            assert each.status == "skipped", each


def test_a_worker_runs_the_jobs_of_an_api_only_serve(
    tmp_path: Path, database: str, simulator: BackgroundSimulator
) -> None:
    api = spawn_serve(database, simulator, tmp_path, "api", "serve", "--no-worker")
    worker = spawn_serve(database, simulator, tmp_path, "worker", "worker", "--concurrency", "2")
    [clinic] = seed_clinics(database, simulator, 1, EVERY_10_S)
    try:
        wait_for(
            lambda: sum(f.status == "completed" for f in fires(database)) >= 2,
            90,
            worker.output(),
        )
        assert worker.stop(signal.SIGTERM) == 0, worker.output()
        assert api.stop(signal.SIGTERM) == 0, api.output()
    finally:
        for each in (api, worker):
            if each.process.poll() is None:
                each.process.kill()
    done = [f for f in fires(database) if f.status == "completed"]
    assert {f.run_by for f in done} == {worker.name}
    assert {f.claimed_by for f in done} == {api.name}
    assert {f.clinic_id for f in done} == {clinic}


def test_worker_refuses_sqlite(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from pims_sync.cli.app import app as cli

    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}", "ENCRYPTION_KEY": "k" * 40}
    result = CliRunner().invoke(cli, ["worker"], env=env)
    assert result.exit_code == 2
    assert "pims-sync worker needs Postgres" in result.output
