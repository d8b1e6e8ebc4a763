"""Migrations: from empty, twice, over a Supabase-like database; `db check` and its exit codes."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Connection, inspect, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from pims_sync.adapters.sql.engine import create_sync_db_engine
from pims_sync.adapters.sql.migrate import (
    ADVISORY_LOCK_KEY,
    VERSION_TABLE,
    database_revision,
    display_url,
    head_revision,
    include_name,
    include_object,
    upgrade_database,
)
from pims_sync.adapters.sql.ranges import POSTGRES_ONLY_COLUMNS
from pims_sync.adapters.sql.schema import check_database
from pims_sync.adapters.sql.tables import metadata
from pims_sync.cli.app import app
from pims_sync.errors import UnsafeMigrationError

CLINIC = uuid.UUID("11111111-1111-1111-1111-111111111111")


def _connect(url: str) -> Iterator[Connection]:
    engine = create_sync_db_engine(url)
    try:
        with engine.begin() as connection:
            yield connection
    finally:
        engine.dispose()


def execute(url: str, *statements: str) -> None:
    """Run raw SQL statements in one transaction."""
    for connection in _connect(url):
        for statement in statements:
            connection.exec_driver_sql(statement)


def rows(url: str, query: str) -> list[tuple[object, ...]]:
    """The rows of one query, as plain tuples."""
    for connection in _connect(url):
        return [tuple(row) for row in connection.exec_driver_sql(query)]
    raise AssertionError("unreachable")


def columns(url: str, table: str) -> set[str]:
    """The column names of a live table."""
    for connection in _connect(url):
        return {column["name"] for column in inspect(connection).get_columns(table)}
    raise AssertionError("unreachable")


def tables(url: str) -> set[str]:
    """The table names of a live database."""
    for connection in _connect(url):
        return set(inspect(connection).get_table_names())
    raise AssertionError("unreachable")


def test_upgrade_from_empty_gives_the_whole_model(database_url: str) -> None:
    assert check_database(database_url)  # an empty database lacks everything

    upgrade_database(database_url)

    assert check_database(database_url) == []
    assert database_revision(database_url) == head_revision()
    postgres = make_url(database_url).get_backend_name() == "postgresql"
    for table in metadata.tables.values():
        extra = POSTGRES_ONLY_COLUMNS.get(table.name, set()) if postgres else set()
        assert columns(database_url, table.name) == set(table.columns.keys()) | extra


def test_model_and_migrations_agree_to_the_type(migrated_database_url: str) -> None:
    # What `alembic check` does: tables.py changed without a migration fails here.
    for connection in _connect(migrated_database_url):
        context = MigrationContext.configure(
            connection,
            opts={
                "version_table": VERSION_TABLE,
                "include_name": include_name,
                "include_object": include_object,
                "compare_type": True,
                "compare_server_default": True,
            },
        )
        assert compare_metadata(context, metadata) == []


def test_autogenerate_never_proposes_a_drop(postgres_url: str) -> None:
    execute(postgres_url, *SUPABASE_LIKE)
    upgrade_database(postgres_url)

    for connection in _connect(postgres_url):
        opts = {"version_table": VERSION_TABLE, "include_name": include_name}
        context = MigrationContext.configure(
            connection, opts={**opts, "include_object": include_object}
        )
        diff = compare_metadata(context, metadata)
        assert not [op for op in diff if str(op[0]).startswith("remove")]


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    upgrade_database(database_url)
    execute(database_url, f"INSERT INTO clinics (id, name) VALUES ('{CLINIC.hex}', 'Happy Paws')")

    upgrade_database(database_url)

    assert rows(database_url, "SELECT name, pims_type FROM clinics") == [
        ("Happy Paws", "idexx_neo")
    ]
    assert rows(database_url, f"SELECT version_num FROM {VERSION_TABLE}") == [(head_revision(),)]
    assert check_database(database_url) == []


def test_migrated_fixture_is_at_head(migrated_database_url: str) -> None:
    assert check_database(migrated_database_url) == []


def test_check_reports_what_was_dropped(migrated_database_url: str) -> None:
    execute(
        migrated_database_url,
        "DROP TABLE patients",
        "ALTER TABLE cases DROP COLUMN metadata",
        "DROP INDEX ix_cases_clinic_id_scheduled_at",
    )

    assert check_database(migrated_database_url) == [
        "missing column cases.metadata",
        "missing index on cases(clinic_id, scheduled_at)",
        "missing table patients",
    ]


def test_check_reports_a_missing_revision_and_unique_constraint(postgres_url: str) -> None:
    upgrade_database(postgres_url)
    execute(
        postgres_url,
        f"DELETE FROM {VERSION_TABLE}",
        "ALTER TABLE cases DROP CONSTRAINT uq_cases_clinic_id_external_id",
    )

    assert check_database(postgres_url) == [
        f"database not migrated to head revision {head_revision()} (it has no revision)",
        "missing unique constraint on cases(clinic_id, external_id)",
    ]


def test_sqlite_table_completed_in_place_keeps_child_rows(sqlite_url: str) -> None:
    # clinics lacks columns and is rebuilt in batch mode; cases rows point at it
    # with ON DELETE CASCADE and must survive the rebuild.
    execute(
        sqlite_url,
        "CREATE TABLE clinics (id CHAR(32) PRIMARY KEY, name TEXT NOT NULL, owner TEXT)",
        f"INSERT INTO clinics VALUES ('{CLINIC.hex}', 'Happy Paws', 'Dr. Who')",
        "CREATE TABLE cases (id CHAR(32) PRIMARY KEY, "
        "clinic_id CHAR(32) NOT NULL REFERENCES clinics(id) ON DELETE CASCADE, "
        "external_id TEXT NOT NULL, source TEXT NOT NULL)",
        f"INSERT INTO cases VALUES ('{uuid.uuid4().hex}', '{CLINIC.hex}', 'appt-1', 'idexx')",
    )

    upgrade_database(sqlite_url)

    assert check_database(sqlite_url) == []
    assert rows(sqlite_url, "SELECT name, owner, timezone, is_active FROM clinics") == [
        ("Happy Paws", "Dr. Who", "America/Los_Angeles", 1)
    ]
    assert rows(sqlite_url, "SELECT external_id, status, metadata FROM cases") == [
        ("appt-1", "draft", "{}")
    ]


SUPABASE_LIKE = (
    # Tables a Supabase project may already have: other columns, other index names.
    "CREATE TABLE clinics (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), name text NOT NULL, "
    "slug text UNIQUE, created_at timestamptz DEFAULT now())",
    f"INSERT INTO clinics (id, name, slug) VALUES ('{CLINIC}', 'Happy Paws', 'happy-paws')",
    "CREATE TABLE cases (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
    "clinic_id uuid NOT NULL REFERENCES clinics(id), status text, notes text, "
    "created_at timestamptz DEFAULT now())",
    f"INSERT INTO cases (clinic_id, status, notes) VALUES ('{CLINIC}', 'ongoing', 'keep me'), "
    f"('{CLINIC}', 'completed', 'me too')",
    "CREATE TABLE clinic_api_keys (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
    "clinic_id uuid NOT NULL REFERENCES clinics(id), name text NOT NULL DEFAULT 'default', "
    "key_prefix text NOT NULL, key_hash text NOT NULL, permissions text[] DEFAULT NULL, "
    "is_active boolean DEFAULT true, expires_at timestamptz, last_used_at timestamptz, "
    "created_at timestamptz DEFAULT now())",
    "CREATE INDEX idx_clinic_api_keys_prefix ON clinic_api_keys(key_prefix)",
    "CREATE INDEX idx_clinic_api_keys_clinic ON clinic_api_keys(clinic_id)",
    "CREATE TABLE pims_credentials (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
    "clinic_id uuid NOT NULL REFERENCES clinics(id) UNIQUE, "
    "provider_type text NOT NULL DEFAULT 'idexx', encrypted_data text NOT NULL, "
    "created_at timestamptz DEFAULT now(), updated_at timestamptz DEFAULT now())",
    f"INSERT INTO pims_credentials (clinic_id, encrypted_data) VALUES ('{CLINIC}', 'ciphertext')",
    "CREATE TABLE clinic_schedule_configs (id uuid PRIMARY KEY DEFAULT gen_random_uuid(), "
    "clinic_id uuid REFERENCES clinics(id) UNIQUE, business_hours jsonb)",
    f"INSERT INTO clinic_schedule_configs (clinic_id, business_hours) "
    f"""VALUES ('{CLINIC}', '{{"mon": "8-18"}}')""",
    # Another app's tables, including its own Alembic version table.
    "CREATE TABLE profiles (id uuid PRIMARY KEY, email text)",
    f"INSERT INTO profiles VALUES ('{uuid.uuid4()}', 'vet@example.com')",
    "CREATE TABLE alembic_version (version_num varchar(32) PRIMARY KEY)",
    "INSERT INTO alembic_version VALUES ('their_rev_42')",
)


def test_upgrade_over_a_supabase_like_database_keeps_everything(postgres_url: str) -> None:
    execute(postgres_url, *SUPABASE_LIKE)

    upgrade_database(postgres_url)

    assert check_database(postgres_url) == []
    assert rows(postgres_url, "SELECT name, slug, timezone, pims_type FROM clinics") == [
        ("Happy Paws", "happy-paws", "America/Los_Angeles", "idexx_neo")
    ]
    assert rows(
        postgres_url, "SELECT status, notes, external_id, metadata FROM cases ORDER BY notes"
    ) == [("ongoing", "keep me", None, {}), ("completed", "me too", None, {})]
    assert rows(postgres_url, "SELECT encrypted_data FROM pims_credentials") == [("ciphertext",)]
    assert rows(
        postgres_url, "SELECT business_hours, sync_schedules FROM clinic_schedule_configs"
    ) == [({"mon": "8-18"}, [])]
    assert rows(postgres_url, "SELECT email FROM profiles") == [("vet@example.com",)]
    assert rows(postgres_url, "SELECT version_num FROM alembic_version") == [("their_rev_42",)]
    # The seed document's indexes count; no duplicates are made under our names.
    api_key_indexes = rows(
        postgres_url, "SELECT indexname FROM pg_indexes WHERE tablename = 'clinic_api_keys'"
    )
    assert ("ix_clinic_api_keys_key_prefix",) not in api_key_indexes
    assert ("uq_clinic_api_keys_key_hash",) in api_key_indexes


def test_duplicates_stop_the_upgrade_and_nothing_is_lost(database_url: str) -> None:
    execute(
        database_url,
        "CREATE TABLE cases (id varchar(36) PRIMARY KEY, clinic_id varchar(36), "
        "external_id text, source text)",
        f"INSERT INTO cases VALUES ('a', '{CLINIC.hex}', 'appt-1', 'x'), "
        f"('b', '{CLINIC.hex}', 'appt-1', 'y'), ('c', '{CLINIC.hex}', 'appt-2', 'z')",
    )

    with pytest.raises(UnsafeMigrationError) as raised:
        upgrade_database(database_url)

    message = str(raised.value)
    assert "uq_cases_clinic_id_external_id" in message
    assert "cases(clinic_id, external_id)" in message
    assert "external_id='appt-1'" in message
    assert rows(database_url, "SELECT id FROM cases ORDER BY id") == [("a",), ("b",), ("c",)]
    if database_url.startswith("postgresql"):  # one transaction: nothing else was created
        assert "clinics" not in tables(database_url)


def test_an_upgrade_waits_while_another_replica_migrates(postgres_url: str) -> None:
    # Another process holds the migration lock: this upgrade must wait for it.
    engine = create_sync_db_engine(postgres_url)
    try:
        with ThreadPoolExecutor(max_workers=1) as pool, engine.connect() as other:
            other.execute(text("SELECT pg_advisory_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            waiting = pool.submit(upgrade_database, postgres_url)
            time.sleep(0.5)
            assert not waiting.done()
            other.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": ADVISORY_LOCK_KEY})
            waiting.result(timeout=30)
    finally:
        engine.dispose()

    assert check_database(postgres_url) == []


def test_threads_upgrading_at_once_all_succeed(postgres_url: str) -> None:
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(upgrade_database, [postgres_url] * 3))

    assert check_database(postgres_url) == []


def db_command(url: str, *args: str) -> tuple[int, str]:
    """Run `pims-sync db …` on this database: exit code and output."""
    result = CliRunner().invoke(app, ["db", *args], env={"DATABASE_URL": url})
    return result.exit_code, result.output


def test_cli_check_and_upgrade(database_url: str) -> None:
    code, output = db_command(database_url, "check", "--json")
    assert code == 1
    report = json.loads(output)
    assert report["ok"] is False
    assert report["problems"]  # SQLite: the file is missing; Postgres: every table

    code, output = db_command(database_url, "upgrade")
    assert (code, output.strip()) == (
        0,
        f"Upgraded {display_url(database_url)} from no revision to {head_revision()}.",
    )

    code, output = db_command(database_url, "check", "--json")
    assert (code, json.loads(output)) == (0, {"ok": True, "problems": [], "manual": []})
    code, output = db_command(database_url, "upgrade")
    assert code == 0
    assert "nothing to do" in output


def test_cli_upgrade_repair_re_adds_what_was_dropped(migrated_database_url: str) -> None:
    execute(migrated_database_url, "DROP TABLE patients")

    code, output = db_command(migrated_database_url, "check")
    assert code == 1
    assert "missing table patients" in output
    code, output = db_command(migrated_database_url, "upgrade")
    assert code == 1
    assert "--repair" in output

    code, output = db_command(migrated_database_url, "upgrade", "--repair")
    assert code == 0
    assert "Repaired:\n  added table patients\n" in output
    assert check_database(migrated_database_url) == []


def test_cli_never_prints_the_password(postgres_url: str) -> None:
    # The test server trusts every local user, so any password gets in.
    url = make_url(postgres_url).set(password="s3cret-pw").render_as_string(hide_password=False)

    for args in (("upgrade",), ("check",), ("check", "--json")):
        code, output = db_command(url, *args)
        assert code == 0
        assert "s3cret-pw" not in output


def test_cli_reports_an_unreachable_database() -> None:
    code, output = db_command("postgresql://pims:s3cret-pw@127.0.0.1:1/nowhere", "check", "--json")

    assert code == 1
    assert json.loads(output)["ok"] is False
    assert "s3cret-pw" not in output
