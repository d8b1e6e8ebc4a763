"""The original's getting-started SQL, pasted as it is, on SQLite and Postgres.

Its recipes insert rows without `id`, `created_at` or `updated_at` into tables this
project made (`db upgrade`), and the rows are then used through the API and the vault.
Its DDL, run before this project ever touched the database, leaves differences that
`db check` names and `db upgrade` repairs (or says it left).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from sqlalchemy import select
from sqlalchemy.engine import make_url

from pims_sync import crypto
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.adapters.sql.schema import database_report
from pims_sync.adapters.sql.tables import pims_credentials
from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.clinics import Clinic
from tests.integration.api.conftest import ENCRYPTION_KEY, api_settings, client_for
from tests.integration.test_migrations import db_command, execute, rows

# --- The guide's text, verbatim ------------------------------------------------------------

GUIDE_API_KEYS_DDL = """\
-- API key authentication for sync endpoints
CREATE TABLE IF NOT EXISTS clinic_api_keys (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  clinic_id UUID NOT NULL REFERENCES clinics(id),
  name TEXT NOT NULL DEFAULT 'default',
  key_prefix TEXT NOT NULL,          -- First 8 chars for fast lookup
  key_hash TEXT NOT NULL,            -- SHA256 hash of full key
  permissions TEXT[] DEFAULT NULL,   -- NULL = full access
  is_active BOOLEAN DEFAULT true,
  expires_at TIMESTAMPTZ,
  last_used_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW()
);

-- Index for fast key lookup
CREATE INDEX idx_clinic_api_keys_prefix ON clinic_api_keys(key_prefix);
CREATE INDEX idx_clinic_api_keys_clinic ON clinic_api_keys(clinic_id);
"""

GUIDE_CREDENTIALS_DDL = """\
-- Encrypted PIMS credentials storage
CREATE TABLE IF NOT EXISTS pims_credentials (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  clinic_id UUID NOT NULL REFERENCES clinics(id) UNIQUE,
  provider_type TEXT NOT NULL DEFAULT 'idexx',
  encrypted_data TEXT NOT NULL,      -- AES-256-GCM encrypted JSON
  created_at TIMESTAMPTZ DEFAULT NOW(),
  updated_at TIMESTAMPTZ DEFAULT NOW()
);
"""

GUIDE_AUDITS_DDL = """\
-- Audit trail for sync operations
CREATE TABLE IF NOT EXISTS case_sync_audits (
  id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  clinic_id UUID NOT NULL REFERENCES clinics(id),
  sync_type TEXT NOT NULL CHECK (sync_type IN ('inbound', 'cases', 'reconciliation', 'full')),
  status TEXT NOT NULL DEFAULT 'in_progress' CHECK (status IN ('in_progress', 'completed', 'failed')),
  appointments_found INTEGER DEFAULT 0,
  cases_created INTEGER DEFAULT 0,
  cases_updated INTEGER DEFAULT 0,
  cases_enriched INTEGER DEFAULT 0,
  cases_deleted INTEGER DEFAULT 0,
  error_message TEXT,
  started_at TIMESTAMPTZ DEFAULT NOW(),
  completed_at TIMESTAMPTZ,
  created_at TIMESTAMPTZ DEFAULT NOW()
);

CREATE INDEX idx_case_sync_audits_clinic ON case_sync_audits(clinic_id);
CREATE INDEX idx_case_sync_audits_type ON case_sync_audits(sync_type);
"""  # noqa: E501 - the guide's line

GUIDE_SCHEDULES_DDL = """\
-- Per-clinic sync schedules
ALTER TABLE clinic_schedule_configs
ADD COLUMN IF NOT EXISTS sync_schedules JSONB DEFAULT '[]'::jsonb;

-- Example sync_schedules format:
-- [
--   {"type": "inbound", "cron": "0 6 * * *", "enabled": true},
--   {"type": "cases", "cron": "0 8,14,20 * * *", "enabled": true},
--   {"type": "reconciliation", "cron": "0 2 * * *", "enabled": true}
-- ]
"""

GUIDE_API_KEY_INSERT = """\
-- Insert the API key
INSERT INTO clinic_api_keys (clinic_id, key_prefix, key_hash, name)
VALUES (
  'your-clinic-uuid',
  'abcd1234',                          -- First 8 chars
  'sha256-hash-from-script',
  'production-key'
);
"""

# The guide stores credentials with supabase-js, whose upsert inserts exactly these keys.
GUIDE_CREDENTIALS = {
    "username": "clinic@example.com",
    "password": "secure-password",
    "practiceId": "practice-123",
}
GUIDE_CREDENTIALS_ROW = {
    "clinic_id": "your-clinic-uuid",
    "provider_type": "idexx",
    "encrypted_data": "encryptedData",
}

# SQLite cannot parse these Postgres spellings of the guide's DDL; everything else stays.
SQLITE_SPELLINGS = (
    ("DEFAULT gen_random_uuid()", "DEFAULT (lower(hex(randomblob(16))))"),
    ("DEFAULT NOW()", "DEFAULT CURRENT_TIMESTAMP"),
    ("ADD COLUMN IF NOT EXISTS", "ADD COLUMN"),
    ("'[]'::jsonb", "'[]'"),
)

# What a Supabase project has before the guide's DDL (its tables reference these).
EXISTING_TABLES = """\
CREATE TABLE clinics (id UUID PRIMARY KEY DEFAULT gen_random_uuid(), name TEXT NOT NULL,
  slug TEXT NOT NULL);
CREATE TABLE clinic_schedule_configs (id UUID PRIMARY KEY DEFAULT gen_random_uuid(),
  clinic_id UUID REFERENCES clinics(id));
"""

SERVICE_KEYS_NOT_NULL = (
    "NOT NULL on clinic_api_keys.clinic_id: the service stores NULL there "
    "(service keys, bound to no clinic)"
)
SLUG_LEFT = (
    "clinics.slug is NOT NULL without a default and pims-sync does not write it: "
    "the service's inserts into clinics fail; give it a default or allow NULL"
)


def guide_schedules() -> list[dict[str, Any]]:
    """The guide's example `sync_schedules`, read from its comment lines."""
    lines = GUIDE_SCHEDULES_DDL.split("-- Example sync_schedules format:\n")[1].splitlines()
    return list(json.loads("\n".join(line.removeprefix("--") for line in lines)))


def statements(script: str) -> list[str]:
    """The statements of a script (one per `;` at a line's end), comment-only parts left out."""
    parts = re.split(r";[ \t]*(?:\n|$)", script)
    code = [re.sub(r"--[^\n]*", "", part).strip() for part in parts]
    return [part for part, bare in zip(parts, code, strict=True) if bare]


def run_sql(url: str, script: str) -> None:
    """Run a script as a person would paste it, on SQLite in its own spelling."""
    if make_url(url).get_backend_name() == "sqlite":
        for postgres, sqlite in SQLITE_SPELLINGS:
            script = script.replace(postgres, sqlite)
    execute(url, *statements(script))


def uuid_text(url: str, value: uuid.UUID) -> str:
    """How a person types a uuid: as `clinics add` prints it, or (SQLite before 0005) bare."""
    return value.hex if make_url(url).get_backend_name() == "sqlite" else str(value)


def new_key() -> tuple[str, str, str]:
    """The guide's script: `crypto.randomBytes(32).toString("hex")`, its prefix and hash."""
    key = os.urandom(32).hex()
    return key, key[:8], hashlib.sha256(key.encode()).hexdigest()


def api_key_insert(clinic: str, prefix: str, key_hash: str) -> str:
    """The guide's INSERT with its placeholders filled in, as its reader does."""
    return (
        GUIDE_API_KEY_INSERT.replace("your-clinic-uuid", clinic)
        .replace("abcd1234", prefix)
        .replace("sha256-hash-from-script", key_hash)
    )


def credentials_insert(clinic: str) -> str:
    """The guide's upsert as SQL: its row's keys as columns, the original's ciphertext."""
    data = crypto.encrypt(json.dumps(GUIDE_CREDENTIALS, separators=(",", ":")), ENCRYPTION_KEY)
    row = {**GUIDE_CREDENTIALS_ROW, "clinic_id": clinic, "encrypted_data": data}
    values = ", ".join(f"'{value}'" for value in row.values())
    return f"INSERT INTO pims_credentials ({', '.join(row)}) VALUES ({values})"


# --- On tables `db upgrade` made ---------------------------------------------------------------


@asynccontextmanager
async def app_on(url: str) -> AsyncIterator[tuple[Services, httpx.AsyncClient]]:
    """The real app's services on this database, and a client talking to the app."""
    built = build_services(api_settings(url))
    try:
        async with client_for(create_app(built.settings, built)) as http:
            yield built, http
    finally:
        await built.aclose()


async def add_clinic(services: Services) -> Clinic:
    """A clinic, made as `pims-sync clinics add` makes it."""
    return await services.clinics.add(name="Happy Paws", timezone="America/Chicago")


async def test_the_guides_api_key_insert_authenticates(migrated_database_url: str) -> None:
    async with app_on(migrated_database_url) as (services, http):
        clinic = await add_clinic(services)
        key, prefix, key_hash = new_key()
        # The clinic id as `clinics add` prints it, dashes included, on SQLite too.
        run_sql(migrated_database_url, api_key_insert(str(clinic.id), prefix, key_hash))

        response = await http.get("/api/clinic", headers={"X-API-Key": key})
        [stored] = await services.api_keys.list(clinic.id)

    assert response.status_code == 200, response.text
    assert response.json()["clinic"]["id"] == str(clinic.id)
    assert response.json()["apiKey"]["id"] == str(stored.id)
    assert (stored.name, stored.is_active, stored.permissions) == ("production-key", True, None)
    assert stored.id.version == 4
    assert stored.created_at is not None
    assert stored.created_at.utcoffset() is not None


async def test_the_guides_credentials_open_in_the_vault(migrated_database_url: str) -> None:
    async with app_on(migrated_database_url) as (services, _):
        clinic = await add_clinic(services)
        run_sql(migrated_database_url, credentials_insert(str(clinic.id)))

        credentials = await services.vault.load(clinic.id)
        async with services.engine.connect() as conn:
            row = (await conn.execute(select(pims_credentials))).one()

    assert (credentials.username, credentials.password, credentials.company_id) == (
        "clinic@example.com",
        "secure-password",
        "practice-123",
    )
    assert row.id.version == 4
    assert row.created_at is not None
    assert row.updated_at is not None


async def test_the_guides_schedules_are_listed_by_the_scheduler(
    migrated_database_url: str,
) -> None:
    async with app_on(migrated_database_url) as (services, http):
        clinic = await add_clinic(services)
        if make_url(migrated_database_url).get_backend_name() == "postgresql":
            run_sql(migrated_database_url, GUIDE_SCHEDULES_DDL)  # IF NOT EXISTS: already there
        entries = json.dumps(guide_schedules())
        run_sql(
            migrated_database_url,
            "INSERT INTO clinic_schedule_configs (clinic_id, sync_schedules) "
            f"VALUES ('{clinic.id}', '{entries}')",
        )
        key, prefix, key_hash = new_key()
        run_sql(migrated_database_url, api_key_insert(str(clinic.id), prefix, key_hash))

        response = await http.get("/api/scheduler/status", headers={"X-API-Key": key})

    assert response.status_code == 200, response.text
    status = response.json()
    assert status["invalidSchedules"] == []
    assert [(j["type"], j["cron"], j["enabled"]) for j in status["jobs"]] == [
        ("inbound", "0 6 * * *", True),
        ("cases", "0 8,14,20 * * *", True),
        ("reconciliation", "0 2 * * *", True),
    ]
    assert {job["clinicId"] for job in status["jobs"]} == {str(clinic.id)}


async def test_a_clinic_typed_by_hand_gets_its_id_and_timestamps(
    migrated_database_url: str,
) -> None:
    run_sql(migrated_database_url, "INSERT INTO clinics (name) VALUES ('Typed by hand')")

    async with app_on(migrated_database_url) as (services, _):
        [clinic] = await services.clinics.list()

    assert clinic.id.version == 4
    assert clinic.id.variant == uuid.RFC_4122
    assert (clinic.timezone, clinic.is_active) == ("America/Los_Angeles", True)
    assert clinic.created_at is not None
    assert clinic.created_at.utcoffset() is not None


# --- On tables the guide's DDL made -------------------------------------------------------------


def seed_database(url: str, clinic: uuid.UUID) -> str:
    """A database as the guide leaves it, with a clinic and a key of its recipe (returned)."""
    run_sql(url, EXISTING_TABLES)
    for script in (GUIDE_API_KEYS_DDL, GUIDE_CREDENTIALS_DDL, GUIDE_AUDITS_DDL):
        run_sql(url, script)
    run_sql(url, GUIDE_SCHEDULES_DDL)
    text = uuid_text(url, clinic)
    run_sql(url, f"INSERT INTO clinics (id, name, slug) VALUES ('{text}', 'Oak Vet', 'oak')")
    key, prefix, key_hash = new_key()
    run_sql(url, api_key_insert(text, prefix, key_hash))
    return key


async def test_seed_tables_checked_repaired_and_used(database_url: str) -> None:
    clinic_id = uuid.uuid4()
    key = seed_database(database_url, clinic_id)

    code, output = db_command(database_url, "check")
    assert code == 1
    assert SERVICE_KEYS_NOT_NULL in output
    assert "missing unique constraint on clinic_api_keys(key_hash)" in output
    assert SLUG_LEFT in output

    code, output = db_command(database_url, "upgrade")
    assert code == 1
    assert f"\n  dropped {SERVICE_KEYS_NOT_NULL}\n" in output
    assert "\n  added unique constraint on clinic_api_keys(key_hash)\n" in output
    assert "\n  added column case_sync_audits.cases_skipped\n" in output
    assert f"Left as it is (change it by hand):\n  {SLUG_LEFT}\n" in output

    code, output = db_command(database_url, "check", "--json")
    assert (code, json.loads(output)) == (
        1,
        {"ok": False, "problems": [SLUG_LEFT], "manual": [SLUG_LEFT]},
    )

    async with app_on(database_url) as (services, http):
        # The key of the guide's recipe works, and a service key can now be stored.
        response = await http.get("/api/clinic", headers={"X-API-Key": key})
        service_key, _ = await services.api_keys.create(clinic_id=None, name="service")

    assert response.status_code == 200, response.text
    assert response.json()["clinic"]["id"] == str(clinic_id)
    assert service_key.is_service_key


def test_seed_tables_complete_once_the_left_difference_is_fixed(postgres_url: str) -> None:
    seed_database(postgres_url, uuid.uuid4())
    upgrade_database(postgres_url)
    assert database_report(postgres_url).manual == [SLUG_LEFT]

    run_sql(postgres_url, "ALTER TABLE clinics ALTER COLUMN slug DROP NOT NULL")

    code, output = db_command(postgres_url, "check")
    assert code == 0, output
    assert "schema complete" in output
    code, output = db_command(postgres_url, "upgrade")
    assert code == 0, output
    assert "nothing to do" in output
    assert rows(
        postgres_url,
        "SELECT is_nullable FROM information_schema.columns "
        "WHERE table_name = 'clinic_api_keys' AND column_name = 'clinic_id'",
    ) == [("YES",)]
