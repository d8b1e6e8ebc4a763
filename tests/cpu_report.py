"""Pytest plugin: the CPU seconds each test costs, to see where `make test`'s time goes.

Off unless PIMS_SYNC_TEST_CPU_REPORT names a folder. Each test's setup, call and teardown
are measured by the process's own CPU (every thread: in-process servers included) plus
its waited-for children's (a `serve` subprocess, Chromium and its driver, when reaped), so
the figures hold on a loaded machine, where wall times do not. Postgres's own CPU is not
counted. Each process (an xdist worker, or the one pytest) writes `<worker>.jsonl` there;
`python -m tests.cpu_report FOLDER` sums them by module.
"""

from __future__ import annotations

import json
import os
import resource
import sys
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

ENV = "PIMS_SYNC_TEST_CPU_REPORT"
_spent: dict[str, float] = defaultdict(float)


def _cpu_seconds() -> float:
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item) -> Iterator[None]:
    """Add the CPU seconds of the test's setup, call and teardown to its total."""
    if not os.environ.get(ENV):
        return (yield)
    started = _cpu_seconds()
    try:
        return (yield)
    finally:
        _spent[item.nodeid] += _cpu_seconds() - started


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Write this process's figures."""
    folder = os.environ.get(ENV)
    if not folder or not _spent:
        return
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    Path(folder).mkdir(parents=True, exist_ok=True)
    lines = (json.dumps({"test": test, "cpu": round(cpu, 3)}) for test, cpu in _spent.items())
    (Path(folder) / f"{worker}.jsonl").write_text("\n".join(lines) + "\n")


def summary(folder: Path, top: int = 40) -> list[str]:
    """The modules by CPU seconds, most first, with the total."""
    by_module: dict[str, float] = defaultdict(float)
    for path in folder.glob("*.jsonl"):
        for line in path.read_text().splitlines():
            row = json.loads(line)
            by_module[row["test"].partition("::")[0]] += row["cpu"]
    total = sum(by_module.values())
    ranked = sorted(by_module.items(), key=lambda item: -item[1])[:top]
    return [f"{cpu:8.1f} s  {module}" for module, cpu in ranked] + [f"{total:8.1f} s  in all"]


if __name__ == "__main__":
    print("\n".join(summary(Path(sys.argv[1]))))
