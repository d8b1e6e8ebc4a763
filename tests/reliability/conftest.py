"""The fault report fixture and the hook that writes docs/reliability.md after a whole run."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.reliability.report import REPORT_PATH, FaultReport

_REPORT = FaultReport()
_HERE = Path(__file__).resolve().parent


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


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Rewrite the report when the whole matrix ran; otherwise leave it alone."""
    if not _REPORT.rows:
        return
    if _whole_directory_ran(session.config):
        REPORT_PATH.write_text(_REPORT.render(), encoding="utf-8")
        target = REPORT_PATH
    else:
        target = Path(session.config.rootpath) / ".reliability-partial.md"
        target.write_text(_REPORT.render(), encoding="utf-8")
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    if reporter is not None:
        passed = sum(r.passed for r in _REPORT.rows)
        reporter.write_line(f"fault matrix: {passed}/{len(_REPORT.rows)} cells pass -> {target}")
