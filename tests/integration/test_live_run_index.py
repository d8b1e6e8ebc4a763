"""Migration 0002: the partial unique index behind "one live run per clinic"."""

from __future__ import annotations

import uuid

import pytest

from pims_sync.adapters.sql.engine import create_sync_db_engine
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.adapters.sql.migrations.ensure import repair_database
from pims_sync.adapters.sql.schema import check_database
from pims_sync.errors import UnsafeMigrationError

INDEX = "uq_case_sync_audits_live_run"
CLINIC = uuid.UUID("22222222-2222-2222-2222-222222222222")


def execute(url: str, *statements: str) -> list[tuple[object, ...]]:
    """Run raw SQL in one transaction; the rows of the last statement, if any."""
    engine = create_sync_db_engine(url)
    try:
        with engine.begin() as connection:
            result = None
            for statement in statements:
                result = connection.exec_driver_sql(statement)
            return [tuple(row) for row in result] if result and result.returns_rows else []
    finally:
        engine.dispose()


def _run(status: str, parent: str = "NULL") -> str:
    return (
        "INSERT INTO case_sync_audits (id, clinic_id, sync_type, status, parent_id) VALUES "
        f"('{uuid.uuid4().hex}', '{CLINIC.hex}', 'full', '{status}', {parent})"
    )


def test_check_reports_the_missing_index_and_repair_re_adds_it(
    migrated_database_url: str,
) -> None:
    execute(migrated_database_url, f"DROP INDEX {INDEX}")

    assert check_database(migrated_database_url) == [
        f"missing partial unique index {INDEX} on case_sync_audits(clinic_id)"
    ]
    repair_database(migrated_database_url)
    assert check_database(migrated_database_url) == []


def test_upgrade_stops_on_two_live_runs_of_a_clinic_and_changes_nothing(
    database_url: str,
) -> None:
    upgrade_database(database_url, "0001")
    execute(
        database_url,
        f"INSERT INTO clinics (id, name) VALUES ('{CLINIC.hex}', 'Happy Paws')",
        _run("in_progress"),
        _run("in_progress"),
        _run("completed"),
    )

    with pytest.raises(UnsafeMigrationError) as raised:
        upgrade_database(database_url)

    assert INDEX in str(raised.value)
    assert execute(database_url, "SELECT count(*) FROM case_sync_audits") == [(3,)]
    execute(database_url, "UPDATE case_sync_audits SET status = 'failed'")
    upgrade_database(database_url)
    assert check_database(database_url) == []
