"""Load: 50 simulated clinics whose schedules fire at the same instant, two workers on Postgres.

Production's shape: `pims-sync serve --no-worker` plans the schedules, two `pims-sync
worker` processes run the jobs. Every clinic gets the same one-off inbound schedule, the
first clinic a cases schedule at the same instant as well (two runs of one clinic due
together: the per-clinic lock must put them one after the other, not turn one away).
Proves: every fire time runs exactly once and completes, no two runs of a clinic overlap,
every clinic's cases equal the simulator's appointments of the window, logins are one per
run at most, and the workers' memory (with their Chromium) stays bounded: the peaks are
printed, only a generous bound is asserted. `-m "not load"` leaves it out.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.sql.migrate import upgrade_database
from tests.integration.scheduling.harness import assert_never_two_runs_of_a_clinic
from tests.reliability.load_stack import LoadPlan, LoadStack

pytestmark = [pytest.mark.load, pytest.mark.postgres, pytest.mark.browser]

SETTLE_SECONDS = 180.0
GIB = 1024**3
MEMORY_BOUND = 4 * GIB  # per worker with its browser: generous, only catches a leak per clinic


@pytest.mark.timeout(360)
def test_fifty_clinics_firing_together_on_two_workers(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    upgrade_database(postgres_url)  # our tables and procrastinate's
    plan = LoadPlan()
    stack = LoadStack(postgres_url, tmp_path, plan)
    with stack.running():
        fire_at = stack.fire_together()
        stack.wait_settled(SETTLE_SECONDS)
        stack.count_browsers()  # after the runs, before the workers close their browsers
        result = stack.result(stack.stop())
    with capsys.disabled():  # the figures belong in the CI log, not only on failure
        print()
        for line in result.summary():
            print(line)

    assert result.exit_codes == dict.fromkeys(result.exit_codes, 0)
    # Every fire time: exactly one row, run once, completed; nothing else ran.
    assert len(result.all_fires) == len(result.fires) == plan.fires()
    assert len(result.all_runs) == len(result.runs)
    per_schedule = Counter((f.clinic_id, f.sync_type, f.fire_at) for f in result.fires)
    assert set(per_schedule.values()) == {1}
    assert {f.fire_at for f in result.fires} == {fire_at}
    assert {c for c, _, _ in per_schedule} == set(result.clinics)
    bad = [
        (f.clinic_id, f.sync_type, f.status, f.reason)
        for f in result.fires
        if f.status != "completed"
    ]
    assert bad == [], bad
    run_ids = [f.run_id for f in result.fires]
    assert len(set(run_ids)) == len(run_ids)
    # Every run: scheduled, completed, one per fire; never two of a clinic at once.
    runs = {r.id: r for r in result.runs}
    assert set(runs) == set(run_ids)
    assert {(r.status, r.triggered_by) for r in runs.values()} == {("completed", "scheduler")}
    assert_never_two_runs_of_a_clinic(list(runs.values()))
    first = result.clinics[0]
    assert sorted(r.sync_type for r in runs.values() if r.clinic_id == first) == [
        "cases",
        "inbound",
    ]
    # Both workers took a share.
    assert len(result.runs_by_worker) == plan.workers, result.runs_by_worker
    # Cases of every clinic are exactly the simulator's appointments of the run's window.
    for clinic in result.clinics:
        expected = result.expected[clinic]
        assert expected, f"clinic {clinic}: the simulator has no appointments in the window"
        assert result.cases.get(clinic, set()) == expected, clinic
        [inbound] = [r for r in runs.values() if r.clinic_id == clinic and r.sync_type == "inbound"]
        assert inbound.appointments_found == len(expected)
    # One login per run at most (cached sessions may save some), none refused.
    assert 0 < result.sim_stats["logins"] <= len(runs)
    assert result.sim_stats["loginFailures"] == 0
    # Memory: sampled, bounded, and the browser does not keep a context per clinic.
    contexts = IdexxOptions().max_contexts
    for label, tree in result.memory.items():
        assert tree.samples > 0
        assert tree.peak_pss < MEMORY_BOUND, f"{label}: {tree.peak_pss / GIB:.2f} GiB"
        renderers = result.browsers_after[label].get("renderer", 0)
        assert renderers <= contexts, (label, result.browsers_after[label])
