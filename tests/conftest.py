"""Shared fixtures: empty databases on SQLite and on a real Postgres."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

# No secret or personal data in any log line of the run (tests/log_scan.py).
# The fault matrix report, written to build/ (tests/reliability/report_plugin.py).
# Parallel workers: which tests share a worker, the longest first (tests/xdist_groups.py).
# CPU seconds per test, when asked for (tests/cpu_report.py).
pytest_plugins = [
    "tests.log_scan",
    "tests.reliability.report_plugin",
    "tests.xdist_groups",
    "tests.cpu_report",
]

POSTGRES_ENV = "PIMS_SYNC_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    """The server URL the test command found or started (scripts/ensure-postgres.sh)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: run the tests with `make test`")
    return url


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def create_database(conn: psycopg.Connection[Any], name: str, template: str | None = None) -> None:
    """CREATE DATABASE (a copy of `template` if given) whose commits skip the WAL flush.

    synchronous_commit=off: a commit returns before its WAL reaches the disk (6-10 ms a
    commit on this machine's disk). Only a crash of the test server could lose the last
    commits, and no test crashes it (the restart cells have a cluster of their own).
    """
    copy = f' TEMPLATE "{template}"' if template else ""
    conn.execute(f'CREATE DATABASE "{name}"{copy}')
    conn.execute(f'ALTER DATABASE "{name}" SET synchronous_commit = off')


@contextmanager
def new_postgres_database(label: str, template: str | None = None) -> Iterator[str]:
    """A new database on the test server (a copy of `template` if given), dropped afterwards."""
    admin = postgres_admin_url()
    name = f"pims_sync_{label}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        create_database(conn, name, template)
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
        create_database(conn, name)
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
        create_database(conn, str(url.database), template)
    return database_url
