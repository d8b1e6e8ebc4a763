"""Alembic environment: runs our migrations on SQLite or Postgres (see docs/migrations.md)."""

from __future__ import annotations

from logging.config import fileConfig

from alembic import context
from sqlalchemy import Connection, text

from pims_sync.adapters.sql.migrate import (
    ADVISORY_LOCK_KEY,
    URL_ATTRIBUTE,
    VERSION_TABLE,
    include_name,
    include_object,
    migration_connection,
)
from pims_sync.adapters.sql.tables import metadata


def _database_url() -> str:
    url = context.config.attributes.get(URL_ATTRIBUTE)
    url = url or context.config.get_main_option("sqlalchemy.url")
    if url:
        return str(url)
    # Run from the `alembic` command line: the same settings as the service (env, .env).
    from pims_sync.settings import load_settings

    return load_settings().database_url


def _run(connection: Connection) -> None:
    is_sqlite = connection.dialect.name == "sqlite"
    context.configure(
        connection=connection,
        target_metadata=metadata,
        version_table=VERSION_TABLE,
        render_as_batch=is_sqlite,
        include_name=include_name,
        include_object=include_object,
        compare_type=True,
    )
    with context.begin_transaction():
        if connection.dialect.name == "postgresql":
            connection.execute(
                text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY}
            )
        context.run_migrations()


def run_migrations() -> None:
    """Migrate the configured database; only online: the migrations inspect it."""
    if context.config.config_file_name is not None:  # the `alembic` command, with alembic.ini
        fileConfig(context.config.config_file_name, disable_existing_loggers=False)
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) mode is not supported: migrations inspect the database")
    with migration_connection(_database_url()) as connection:
        _run(connection)


run_migrations()
