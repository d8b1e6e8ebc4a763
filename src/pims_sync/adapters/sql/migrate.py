"""Apply the Alembic migrations shipped inside the package, programmatically."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from pims_sync.adapters.sql.engine import create_sync_db_engine
from pims_sync.adapters.sql.tables import metadata

MIGRATIONS_DIR = Path(__file__).parent / "migrations"

# Not `alembic_version`: a shared Supabase database may already hold another tool's.
VERSION_TABLE = "pims_sync_alembic_version"

# Key of the Config attribute through which env.py receives the database URL.
URL_ATTRIBUTE = "pims_sync_database_url"

# Any fixed number: serialises replicas that start and migrate one Postgres at the same time.
ADVISORY_LOCK_KEY = 0x50494D53

# Alembic keeps its `context` and `op` in module globals: one run per process at a time.
# Across processes (replicas), env.py takes a Postgres advisory lock.
ALEMBIC_LOCK = threading.Lock()


def display_url(url: str) -> str:
    """The URL as it may be printed or logged: the password hidden."""
    return make_url(url).render_as_string(hide_password=True)


def include_name(name: str | None, type_: str, parent_names: object) -> bool:
    """Autogenerate looks at our tables only, never at another app's in a shared database."""
    del parent_names
    return type_ != "table" or name in metadata.tables


def include_object(
    item: object, name: str | None, type_: str, reflected: bool, compare_to: object
) -> bool:
    """Autogenerate never proposes a drop: what only the database has stays (add-only rule)."""
    del item, name, type_
    return not (reflected and compare_to is None)


def alembic_config(url: str | None = None) -> Config:
    """An Alembic configuration for our migrations, without any alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if url is not None:
        config.attributes[URL_ATTRIBUTE] = url
    return config


def head_revision() -> str:
    """The revision the shipped migrations lead to."""
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:  # pragma: no cover - the package always ships migrations
        raise RuntimeError("no migrations found in " + str(MIGRATIONS_DIR))
    return head


def current_revision(connection: Connection) -> str | None:
    """The revision the database is at, or None if it was never migrated."""
    context = MigrationContext.configure(connection, opts={"version_table": VERSION_TABLE})
    return context.get_current_revision()


def database_revision(url: str) -> str | None:
    """The revision of the database at `url`, or None if it was never migrated."""
    engine = create_sync_db_engine(url)
    try:
        with engine.connect() as connection:
            return current_revision(connection)
    finally:
        engine.dispose()


@contextmanager
def migration_connection(url: str) -> Iterator[Connection]:
    """A connection to change the schema with; on SQLite, foreign keys are off."""
    engine = create_sync_db_engine(url)
    try:
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":
                # Batch mode copies and drops tables; with foreign keys on, that DROP
                # would cascade-delete the rows of every child table.
                connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
                connection.commit()
            yield connection
    finally:
        engine.dispose()


def upgrade_database(url: str, revision: str = "head") -> None:
    """Bring the database at `url` to `revision`; blocking, so async callers use a thread."""
    with ALEMBIC_LOCK:
        command.upgrade(alembic_config(url), revision)
