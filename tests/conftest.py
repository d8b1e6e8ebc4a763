"""Shared fixtures: empty databases on SQLite and on a real Postgres."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

# No secret or personal data in any log line of the run (tests/log_scan.py).
# The fault matrix report, written to build/ (tests/reliability/report_plugin.py).
pytest_plugins = ["tests.log_scan", "tests.reliability.report_plugin"]

POSTGRES_ENV = "PIMS_SYNC_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    """The server URL the test command found or started (scripts/ensure-postgres.sh)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: run the tests with `make test`")
    return url


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def new_postgres_database(label: str, template: str | None = None) -> Iterator[str]:
    """A new database on the test server (a copy of `template` if given), dropped afterwards."""
    admin = postgres_admin_url()
    name = f"pims_sync_{label}_{uuid.uuid4().hex[:12]}"
    copy = f' TEMPLATE "{template}"' if template else ""
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"{copy}')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def migrated_database(kind: str, directory: Path, label: str) -> Iterator[str]:
    """A database of this kind ("sqlite" or "postgres") at the head migration, for a module."""
    from pims_sync.adapters.sql.migrate import upgrade_database

    if kind == "sqlite":
        url = f"sqlite:///{directory / 'pims-sync.db'}"
        upgrade_database(url)
        yield url
        return
    with new_postgres_database(label) as url:
        upgrade_database(url)
        yield url


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty Postgres database, dropped after the test."""
    with new_postgres_database("test") as url:
        yield url


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new, empty SQLite database file."""
    return f"sqlite:///{tmp_path / 'pims-sync.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind, in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture(scope="session")
def _migrated_sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once per session; tests get copies."""
    from pims_sync.adapters.sql.migrate import upgrade_database

    path = tmp_path_factory.mktemp("template") / "pims-sync.db"
    upgrade_database(f"sqlite:///{path}")
    return path  # the engine is disposed: WAL is checkpointed into this one file


@pytest.fixture(scope="session")
def _migrated_postgres_template() -> Iterator[str]:
    """A Postgres database migrated to head once per session; tests clone it."""
    from pims_sync.adapters.sql.migrate import upgrade_database

    admin = postgres_admin_url()
    name = f"pims_sync_template_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        upgrade_database(make_url(admin).set(database=name).render_as_string(hide_password=False))
        yield name
    finally:
        with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def migrated_database_url(database_url: str, request: pytest.FixtureRequest) -> str:
    """A database of each kind at the head migration (a copy of a once-migrated template)."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        template = request.getfixturevalue("_migrated_sqlite_template")
        shutil.copyfile(template, str(url.database))
        return database_url
    template = request.getfixturevalue("_migrated_postgres_template")
    # Cloning a template is much faster than migrating; the empty database gives way.
    with psycopg.connect(_conninfo(postgres_admin_url()), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE "{url.database}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{url.database}" TEMPLATE "{template}"')
    return database_url


# --- parallel workers (pytest-xdist, `--dist loadgroup`) -----------------------------------

# A module's tests share module-scoped fixtures (a simulator, a server, a browser) and some
# follow one another's state: they stay on one worker. These long modules are split among
# workers instead, by test function or by a parameter, each part setting up its own fixtures.
SPREAD_BY: dict[str, tuple[str, ...]] = {
    "tests/reliability/test_process_faults.py": ("function",),
    "tests/reliability/test_pims_faults.py": ("matrix", "phase"),
    "tests/e2e/test_scale_out.py": ("function",),
}
# The longest parts start first, so none of them is left to run alone at the end.
LONGEST_FIRST = (
    "tests/reliability/test_process_faults.py",
    "tests/unit/sync/test_convergence_properties.py",
    "tests/e2e/test_scale_out.py",
    "tests/reliability/test_pims_faults.py",
    "tests/reliability/test_load.py",
    "tests/e2e/test_sync_end_to_end.py",
    "tests/integration/idexx/test_doctor.py",
    "tests/integration/scheduling/test_embedded.py",
    "tests/integration/idexx/test_provider_simulator.py",
)


def _group(item: pytest.Item, module: str) -> str:
    """The worker group of a test: its module, or a part of a module spread among workers."""
    parts = [module]
    for key in SPREAD_BY.get(module, ()):
        if key == "function":
            parts.append(getattr(item, "originalname", item.name))
        else:
            callspec = getattr(item, "callspec", None)
            parts.append(str(callspec.params.get(key, "")) if callspec else "")
    return "::".join(parts)


def pytest_itemcollected(item: pytest.Item) -> None:
    """Give each test its worker group (before xdist reads the groups)."""
    if item.get_closest_marker("xdist_group") is None:
        item.add_marker(pytest.mark.xdist_group(_group(item, _module(item))))


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Put the longest modules first, after pytest has ordered each module's tests."""
    rank = {module: index for index, module in enumerate(LONGEST_FIRST)}
    # A stable sort: the order inside each module (which some modules rely on) is kept.
    items.sort(key=lambda item: rank.get(_module(item), len(rank)))


def _module(item: pytest.Item) -> str:
    return item.nodeid.split("::", 1)[0]
