"""Migration 0005 on databases that already exist: rows kept, defaults, NULLs and triggers back."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy.exc import IntegrityError

from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.adapters.sql.schema import check_database
from tests.integration.test_migrations import CLINIC, db_command, execute, rows


def test_0005_over_a_0004_database_keeps_every_row(database_url: str) -> None:
    upgrade_database(database_url, "0004")
    run, case = uuid.uuid4().hex, uuid.uuid4().hex
    execute(
        database_url,
        f"INSERT INTO clinics (id, name) VALUES ('{CLINIC.hex}', 'Happy Paws')",
        f"INSERT INTO cases (id, clinic_id, external_id, source) "
        f"VALUES ('{case}', '{CLINIC.hex}', 'appt-1', 'idexx')",
        f"INSERT INTO patients (id, case_id, clinic_id, name) "
        f"VALUES ('{uuid.uuid4().hex}', '{case}', '{CLINIC.hex}', 'Rex')",
        f"INSERT INTO case_sync_audits (id, clinic_id, sync_type) "
        f"VALUES ('{run}', '{CLINIC.hex}', 'full')",
    )
    assert "missing default on clinics.id" in check_database(database_url)

    upgrade_database(database_url)

    assert check_database(database_url) == []
    assert rows(database_url, "SELECT external_id FROM cases") == [("appt-1",)]
    assert rows(database_url, "SELECT name FROM patients") == [("Rex",)]
    # The live-run index survived the SQLite rebuild: a second live run is refused.
    with pytest.raises(IntegrityError):
        execute(
            database_url,
            f"INSERT INTO case_sync_audits (clinic_id, sync_type) VALUES ('{CLINIC.hex}', 'full')",
        )
    execute(
        database_url,
        f"INSERT INTO cases (clinic_id, external_id, source) "
        f"VALUES ('{CLINIC.hex}', 'appt-2', 'idexx')",
    )
    [(made,)] = rows(database_url, "SELECT id FROM cases WHERE external_id = 'appt-2'")
    assert uuid.UUID(str(made)).version == 4


def test_sqlite_rebuilds_keep_other_triggers_and_uuids_typed_with_dashes_match(
    sqlite_url: str,
) -> None:
    upgrade_database(sqlite_url, "0004")
    execute(
        sqlite_url,
        "CREATE TABLE clinic_log (clinic TEXT)",
        "CREATE TRIGGER their_clinic_log AFTER INSERT ON clinics "
        "BEGIN INSERT INTO clinic_log VALUES (NEW.name); END",
    )

    upgrade_database(sqlite_url)  # 0005 rebuilds clinics in batch mode

    execute(
        sqlite_url,
        f"INSERT INTO clinics (id, name) VALUES ('{str(CLINIC).upper()}', 'Happy Paws')",
        f"INSERT INTO pims_credentials (clinic_id, encrypted_data) VALUES ('{CLINIC}', 'x')",
    )
    assert rows(sqlite_url, "SELECT clinic FROM clinic_log") == [("Happy Paws",)]
    assert rows(sqlite_url, "SELECT id FROM clinics") == [(CLINIC.hex,)]
    assert rows(sqlite_url, "SELECT clinic_id FROM pims_credentials") == [(CLINIC.hex,)]


def _loosen_and_lose(url: str) -> tuple[list[str], list[str]]:
    """Undo by hand what 0005 did to clinic_api_keys: what `db check` and `--repair` say."""
    if url.startswith("sqlite"):
        execute(url, "DROP TRIGGER pims_sync_uuid_text_clinic_api_keys")
        trigger = "trigger pims_sync_uuid_text_clinic_api_keys (SQLite: uuids typed as text)"
        return [f"missing {trigger}"], [f"added {trigger}"]
    execute(
        url,
        "ALTER TABLE clinic_api_keys ALTER COLUMN id DROP DEFAULT",
        "ALTER TABLE clinic_api_keys ALTER COLUMN clinic_id SET NOT NULL",
    )
    not_null = (
        "NOT NULL on clinic_api_keys.clinic_id: the service stores NULL there "
        "(service keys, bound to no clinic)"
    )
    return (
        ["missing default on clinic_api_keys.id", not_null],
        ["added default on clinic_api_keys.id", f"dropped {not_null}"],
    )


def test_cli_upgrade_repair_restores_defaults_nulls_and_triggers(
    migrated_database_url: str,
) -> None:
    problems, repaired = _loosen_and_lose(migrated_database_url)

    assert check_database(migrated_database_url) == problems
    code, output = db_command(migrated_database_url, "upgrade")
    assert code == 1
    assert "--repair" in output

    code, output = db_command(migrated_database_url, "upgrade", "--repair")
    assert code == 0, output
    for problem in repaired:
        assert f"\n  {problem}\n" in output
    assert check_database(migrated_database_url) == []
