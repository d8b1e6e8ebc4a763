"""Pytest plugin: how `make test` shares the tests among parallel workers (pytest-xdist).

`--dist loadscope` with the project's scopes: a module's tests run on one worker, in their
order (they share module-scoped fixtures, a simulator, a server, a browser, and some follow
one another's state); the longest modules are split among workers instead, by test function
or by parameter, each part setting up its own fixtures. The longest parts are collected
first, so none of them is left to run alone at the end of the run.
"""

from __future__ import annotations

from typing import Any

import pytest
from xdist.scheduler import LoadScopeScheduling

# Modules split among workers: by test function (a function's parameters stay together),
# by test (each parameter apart), and for the PIMS fault matrix by backend and phase (its
# cells' ids end in "-<phase>" or "-<phase>-postgres").
BY_FUNCTION = frozenset(
    {
        "tests/reliability/test_process_faults.py",
        "tests/reliability/test_pims_faults.py",
        "tests/e2e/test_scale_out.py",
    }
)
BY_TEST = frozenset({"tests/reliability/test_webhook_faults.py"})
BY_PHASE = frozenset({"tests/reliability/test_pims_faults.py"})
LONGEST_FIRST = (
    "tests/reliability/test_outbox_faults.py",
    "tests/unit/sync/test_convergence_properties.py",
    "tests/reliability/test_load.py",
    "tests/reliability/test_webhook_sync_faults.py",
    "tests/e2e/test_scale_out.py",
    "tests/reliability/test_webhook_faults.py",
    "tests/reliability/test_process_faults.py",
    "tests/reliability/test_pims_faults.py",
    "tests/integration/idexx/test_doctor.py",
    "tests/integration/scheduling/test_embedded.py",
    "tests/e2e/test_sync_end_to_end.py",
    "tests/integration/idexx/test_provider_simulator.py",
)


def scope_of(nodeid: str) -> str:
    """The part of the run a test belongs to: its module, or a piece of a split module."""
    module, _, rest = nodeid.partition("::")
    if module in BY_TEST:
        return nodeid
    if module not in BY_FUNCTION:
        return module
    function, _, params = rest.partition("[")
    scope = f"{module}::{function}"
    if module in BY_PHASE and params:
        cell = params.rstrip("]")
        backend = "postgres" if cell.endswith("-postgres") else "sqlite"
        scope += f"::{backend}::{cell.removesuffix('-postgres').rsplit('-', 1)[-1]}"
    return scope


class ProjectScopes(LoadScopeScheduling):
    """xdist's scope scheduling over `scope_of`, in collection order (longest first)."""

    def __init__(self, config: pytest.Config, log: Any = None) -> None:
        config.option.loadscopereorder = False  # by count of tests, not by duration
        super().__init__(config, log)

    def _split_scope(self, nodeid: str) -> str:
        return scope_of(nodeid)


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> LoadScopeScheduling | None:
    """`--dist loadscope` takes the project's scopes."""
    return ProjectScopes(config, log) if config.getvalue("dist") == "loadscope" else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest modules first, after pytest has ordered each module's tests."""
    rank = {module: index for index, module in enumerate(LONGEST_FIRST)}
    # A stable sort: the order inside each module, which some modules rely on, is kept.
    items.sort(key=lambda item: rank.get(item.nodeid.partition("::")[0], len(rank)))
