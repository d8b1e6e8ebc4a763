"""Pytest plugin: the fault report fixture, and build/reliability.md after a whole run.

The report goes to `build/` (ignored by git): a test run never rewrites a tracked file.
`make reliability-report` publishes it as docs/reliability.md. Registered by the root
conftest, so that under parallel workers (pytest-xdist) the controlling process, which
collects nothing itself, still merges the rows each worker dumps.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from tests.reliability.report import PARTIAL_PATH, REPORT_PATH, FaultReport

_REPORT = FaultReport()
_HERE = Path(__file__).resolve().parent
# Where workers dump their rows: a directory of this run's own, named by the controlling
# process for the workers it starts (a nested pytest run gets one of its own).
ROWS_ENV = "PIMS_SYNC_FAULT_ROWS_DIR"


@pytest.fixture(scope="session")
def fault_report() -> FaultReport:
    """The session's fault matrix: tests record their rows here."""
    return _REPORT


def _whole_directory_ran(config: pytest.Config) -> bool:
    """True when the run covered all of tests/reliability (no -k, -m or single tests)."""
    if config.getoption("keyword") or config.getoption("markexpr"):
        return False
    if config.getoption("lf", False) or config.getoption("deselect", None):
        return False
    for arg in config.args:
        path = Path(arg.split("::")[0]).resolve()
        if "::" in arg or not (path == _HERE or _HERE.is_relative_to(path)):
            return False
    return True


def _worker_id(config: pytest.Config) -> str | None:
    workerinput = getattr(config, "workerinput", None)
    return None if workerinput is None else str(workerinput["workerid"])


def pytest_configure(config: pytest.Config) -> None:
    """The controlling process makes the directory its workers dump their rows in."""
    if _worker_id(config) is None:
        os.environ[ROWS_ENV] = tempfile.mkdtemp(prefix="pims-sync-fault-rows-")


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write the report: the whole matrix to build/reliability.md, a part beside it."""
    rows = Path(os.environ.get(ROWS_ENV) or tempfile.mkdtemp(prefix="pims-sync-fault-rows-"))
    worker = _worker_id(session.config)
    if worker is not None:
        if _REPORT.rows:
            _REPORT.dump(rows / f"{worker}.json")
        return
    for dumped in sorted(rows.glob("*.json")):
        _REPORT.merge(dumped)
    shutil.rmtree(rows, ignore_errors=True)
    if not _REPORT.rows:
        return
    target = REPORT_PATH if _whole_directory_ran(session.config) else PARTIAL_PATH
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(_REPORT.render(), encoding="utf-8")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        passed = sum(r.passed for r in _REPORT.rows)
        reporter.write_line(f"fault matrix: {passed}/{len(_REPORT.rows)} cells pass -> {target}")
