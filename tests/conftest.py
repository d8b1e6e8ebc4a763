"""Shared fixtures: empty databases on SQLite and on a real Postgres."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

POSTGRES_ENV = "PIMS_SYNC_TEST_POSTGRES_URL"


def postgres_admin_url() -> str:
    """The server URL the test command found or started (scripts/ensure-postgres.sh)."""
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set: run the tests with `make test`")
    return url


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """A new, empty Postgres database, dropped after the test."""
    admin = postgres_admin_url()
    name = f"pims_sync_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(admin).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(admin), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A new, empty SQLite database file."""
    return f"sqlite:///{tmp_path / 'pims-sync.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """An empty database of each kind, in turn."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    """A database of each kind with the whole schema (placeholder: create_all until migrations)."""
    from pims_sync.adapters.sql.engine import create_sync_db_engine
    from pims_sync.adapters.sql.tables import metadata

    engine = create_sync_db_engine(database_url)
    metadata.create_all(engine)
    engine.dispose()
    return database_url
