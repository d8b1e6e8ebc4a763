"""How the tests are shared among parallel workers (tests/xdist_groups.py)."""

from __future__ import annotations

from pathlib import Path

from tests.xdist_groups import BY_FUNCTION, BY_PHASE, BY_TEST, LONGEST_FIRST, scope_of

ROOT = Path(__file__).resolve().parents[2]


def test_a_module_stays_on_one_worker() -> None:
    assert scope_of("tests/e2e/test_console.py::test_status_shows_the_last_run_live") == (
        "tests/e2e/test_console.py"
    )
    assert scope_of("tests/e2e/test_sync_end_to_end.py::test_x[sqlite-wild]") == (
        "tests/e2e/test_sync_end_to_end.py"
    )


def test_split_modules_go_by_function_and_fault_cells_by_backend_and_phase() -> None:
    faults = "tests/reliability/test_process_faults.py"
    assert scope_of(f"{faults}::test_kill_9_mid_phase[inbound]") == (
        f"{faults}::test_kill_9_mid_phase"
    )
    pims = "tests/reliability/test_pims_faults.py"
    assert scope_of(f"{pims}::test_pims_fault[wrong-password-cases]") == (
        f"{pims}::test_pims_fault::sqlite::cases"
    )
    assert scope_of(f"{pims}::test_pims_fault[http-503-full-postgres]") == (
        f"{pims}::test_pims_fault::postgres::full"
    )
    assert scope_of(f"{pims}::test_the_matrix_keeps_every_cell") == (
        f"{pims}::test_the_matrix_keeps_every_cell"
    )


def test_modules_split_by_test_keep_each_parameter_apart() -> None:
    webhooks = "tests/reliability/test_webhook_faults.py::test_kill_9_while_delivering"
    assert scope_of(f"{webhooks}[sqlite]") != scope_of(f"{webhooks}[postgres]")


def test_every_module_named_exists() -> None:
    for module in {*BY_FUNCTION, *BY_TEST, *BY_PHASE, *LONGEST_FIRST}:
        assert (ROOT / module).is_file(), module
