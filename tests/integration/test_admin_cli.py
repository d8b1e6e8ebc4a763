"""The admin CLI (clinics, credentials, keys) against SQLite and Postgres."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from click.testing import Result
from sqlalchemy import func, select
from typer.testing import CliRunner

from pims_sync import crypto
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine, create_sync_db_engine
from pims_sync.adapters.sql.tables import clinic_api_keys, clinics, pims_credentials
from pims_sync.adapters.sql.vault import SqlCredentialVault
from pims_sync.cli.app import app
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import DecryptionError, NotFoundError

KEY = "current-key-0123456789abcdefghijklmnop"
OLD_KEY = "previous-key-0123456789abcdefghijklmno"
PASSWORD = "s3cret pässword"

Invoke = Callable[..., Result]


@pytest.fixture
def cli(migrated_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run `pims-sync ...` in-process with this database and ENCRYPTION_KEY."""
    monkeypatch.chdir(tmp_path)  # no stray .env from the working tree
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None, **env: str | None) -> Result:
        base: dict[str, str | None] = {
            "DATABASE_URL": migrated_database_url,
            "ENCRYPTION_KEY": KEY,
            "ENCRYPTION_KEY_PREVIOUS": None,
            "IDEXX_ENCRYPTION_KEY": None,
            "SUPABASE_DB_URL": None,
            "SUPABASE_URL": None,
        }
        return runner.invoke(app, list(args), input=input, env={**base, **env})

    return invoke


def _rows(url: str, table: Any) -> list[Any]:
    engine = create_sync_db_engine(url)
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(table)))
    finally:
        engine.dispose()


def _count(url: str, table: Any) -> int:
    engine = create_sync_db_engine(url)
    try:
        with engine.connect() as conn:
            return int(conn.execute(select(func.count()).select_from(table)).scalar_one())
    finally:
        engine.dispose()


def _ok(result: Result) -> Result:
    assert result.exit_code == 0, (result.stdout, result.stderr)
    return result


def _add_clinic(cli: Invoke, name: str = "Happy Paws") -> str:
    return _ok(cli("clinics", "add", "--name", name)).stdout.strip()


def test_clinics_add_and_list(cli: Invoke, migrated_database_url: str) -> None:
    result = _ok(cli("clinics", "add", "--name", "Happy Paws"))
    first = result.stdout.strip()
    assert result.stdout == first + "\n"
    uuid.UUID(first)
    added = json.loads(
        _ok(
            cli("clinics", "add", "--name", "Vet Nord", "--timezone", "Europe/Paris", "--json")
        ).stdout
    )
    assert added["name"] == "Vet Nord"
    assert added["timezone"] == "Europe/Paris"
    uuid.UUID(added["id"])

    human = _ok(cli("clinics", "list")).stdout
    assert first in human
    assert "Happy Paws" in human
    assert "America/Los_Angeles" in human
    listed = json.loads(_ok(cli("clinics", "list", "--json")).stdout)
    assert {c["id"] for c in listed} == {first, added["id"]}
    assert _count(migrated_database_url, clinics) == 2


@pytest.mark.parametrize(
    "args", [("--name", "X", "--timezone", "Mars/Olympus"), ("--name", "  ")], ids=["tz", "name"]
)
def test_bad_clinic_input_writes_nothing(
    cli: Invoke, migrated_database_url: str, args: tuple[str, ...]
) -> None:
    result = cli("clinics", "add", *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert len(result.stderr.strip().splitlines()) == 1
    assert _count(migrated_database_url, clinics) == 0


def _stored_credentials(url: str) -> str:
    rows = _rows(url, pims_credentials)
    assert len(rows) == 1
    data: str = rows[0].encrypted_data
    assert data.startswith("\\x")
    assert data[2:] == data[2:].lower()
    return data


def test_credentials_set_with_option_then_stdin(cli: Invoke, migrated_database_url: str) -> None:
    clinic = _add_clinic(cli)
    result = _ok(
        cli(
            "credentials", "set", "--clinic", clinic, "--username", "vet@example.com",
            "--password", PASSWORD, "--company-id", "1234", "--base-url", "http://127.0.0.1:9/",
        )
    )  # fmt: skip
    assert PASSWORD not in result.stdout + result.stderr
    data = _stored_credentials(migrated_database_url)
    assert json.loads(crypto.decrypt(data, KEY, bound_to=clinic)) == {
        "username": "vet@example.com",
        "password": PASSWORD,
        "companyId": "1234",
        "baseUrl": "http://127.0.0.1:9",
    }

    result = _ok(
        cli("credentials", "set", "--clinic", clinic, "--username", "u2", "--json", input="pw 2\n")
    )
    assert json.loads(result.stdout) == {
        "clinicId": clinic,
        "username": "u2",
        "companyId": None,
        "baseUrl": None,
        "stored": True,
        "resumed": False,  # it was not paused
    }
    stored = PimsCredentials.from_json(
        crypto.decrypt(_stored_credentials(migrated_database_url), KEY, bound_to=clinic)
    )
    assert stored == PimsCredentials("u2", "pw 2")


@pytest.mark.parametrize(
    ("args", "env", "code"),
    [
        (("--clinic", str(uuid.UUID(int=1)), "--password", "p"), {}, 1),
        (("--clinic", "not-an-id", "--password", "p"), {}, 1),
        (("--clinic", "{clinic}"), {}, 1),  # empty stdin: no password
        (("--clinic", "{clinic}", "--password", "p", "--base-url", "ftp://x"), {}, 1),
        (("--clinic", "{clinic}", "--password", "p"), {"ENCRYPTION_KEY": None}, 2),
        (("--clinic", "{clinic}", "--password", "p"), {"ENCRYPTION_KEY": "short"}, 2),
    ],
    ids=["unknown-clinic", "bad-id", "no-password", "bad-url", "no-key", "short-key"],
)
def test_credentials_set_refusals_write_nothing(
    cli: Invoke,
    migrated_database_url: str,
    args: tuple[str, ...],
    env: dict[str, str | None],
    code: int,
) -> None:
    clinic = _add_clinic(cli)
    argv = [arg.replace("{clinic}", clinic) for arg in args]
    result = cli("credentials", "set", "--username", "u", *argv, input="", **env)
    assert result.exit_code == code, result.stderr
    assert result.stderr.startswith("error: ")
    assert _count(migrated_database_url, pims_credentials) == 0


def test_rotate_with_previous_key(cli: Invoke, migrated_database_url: str) -> None:
    clinic = _add_clinic(cli)
    other = _add_clinic(cli, "Second")
    for target in (clinic, other):
        _ok(
            cli(
                "credentials", "set", "--clinic", target, "--username", "u", "--password",
                PASSWORD, ENCRYPTION_KEY=OLD_KEY,
            )
        )  # fmt: skip

    # Without the previous key nothing opens: the whole rotation is refused.
    refused = cli("credentials", "rotate")
    assert refused.exit_code == 1
    assert clinic in refused.stderr
    assert other in refused.stderr
    assert PASSWORD not in refused.stderr
    before = {
        row.clinic_id: row.encrypted_data for row in _rows(migrated_database_url, pims_credentials)
    }

    result = _ok(cli("credentials", "rotate", ENCRYPTION_KEY_PREVIOUS=OLD_KEY))
    assert "2" in result.stdout
    after = {
        row.clinic_id: row.encrypted_data for row in _rows(migrated_database_url, pims_credentials)
    }
    assert set(after) == set(before)
    for clinic_id, data in after.items():
        assert data not in before.values()
        plaintext = crypto.decrypt(data, KEY, bound_to=str(clinic_id))
        assert json.loads(plaintext)["password"] == PASSWORD
    assert json.loads(_ok(cli("credentials", "rotate", "--json")).stdout) == {
        "reencrypted": 2,
        "webhookSecrets": 0,
    }


async def test_vault_load_errors_name_the_clinic(migrated_database_url: str) -> None:
    engine = create_async_db_engine(migrated_database_url)
    try:
        clinic = await SqlClinicStore(engine).add(name="Vault")
        vault = SqlCredentialVault(engine, OLD_KEY)
        with pytest.raises(
            NotFoundError, match=f"no PIMS credentials stored for clinic {clinic.id}"
        ):
            await vault.load(clinic.id)
        await vault.save(clinic.id, PimsCredentials("u", PASSWORD, "c"))
        assert await vault.load(clinic.id) == PimsCredentials("u", PASSWORD, "c")
        assert await SqlCredentialVault(engine, KEY, OLD_KEY).load(clinic.id) == PimsCredentials(
            "u", PASSWORD, "c"
        )
        with pytest.raises(DecryptionError) as caught:
            await SqlCredentialVault(engine, KEY).load(clinic.id)
        assert str(clinic.id) in str(caught.value)
        assert PASSWORD not in str(caught.value)
    finally:
        await engine.dispose()


def test_keys_create_list_revoke(cli: Invoke, migrated_database_url: str) -> None:
    clinic = _add_clinic(cli)
    result = _ok(
        cli(
            "keys", "create", "--clinic", clinic, "--name", "front desk", "--permissions",
            "sync:inbound,sync:reconciliation", "--expires", "2999-01-01", "--json",
        )
    )  # fmt: skip
    created = json.loads(result.stdout)
    key = created["key"]
    assert created["prefix"] == key[:8]
    assert created["clinicId"] == clinic
    assert created["permissions"] == ["sync:inbound", "sync:reconcile"]
    assert created["expiresAt"].startswith("2999-01-01T00:00:00")
    assert "not be shown again" in result.stderr
    key_hash = hashlib.sha256(key.encode()).hexdigest()
    [row] = _rows(migrated_database_url, clinic_api_keys)
    assert row.key_hash == key_hash

    plain = _ok(cli("keys", "create", "--clinic", clinic))
    second_key = plain.stdout.strip()
    assert plain.stdout == second_key + "\n"
    assert len(second_key) == 64

    for args in (
        ("keys", "list"),
        ("keys", "list", "--json"),
        ("keys", "list", "--clinic", clinic),
    ):
        output = _ok(cli(*args)).stdout
        assert created["id"] in output
        for secret in (key, key_hash, second_key, hashlib.sha256(second_key.encode()).hexdigest()):
            assert secret not in output

    assert "Revoked" in _ok(cli("keys", "revoke", created["id"])).stdout
    listed = {k["id"]: k for k in json.loads(_ok(cli("keys", "list", "--json")).stdout)}
    assert listed[created["id"]]["isActive"] is False
    missing = cli("keys", "revoke", str(uuid.UUID(int=7)))
    assert missing.exit_code == 1
    assert "no API key" in missing.stderr


def test_service_key(cli: Invoke, migrated_database_url: str) -> None:
    created = json.loads(_ok(cli("keys", "create", "--service", "--json")).stdout)
    assert created["clinicId"] is None
    assert created["permissions"] is None
    assert "(service)" in _ok(cli("keys", "list")).stdout
    assert _count(migrated_database_url, clinic_api_keys) == 1


@pytest.mark.parametrize(
    "args",
    [
        ("--permissions", "sync:everything"),
        ("--permissions", ","),
        ("--expires", "2001-01-01"),
        ("--expires", "next tuesday"),
        ("--service",),
        (),
    ],
    ids=["unknown-permission", "no-permission", "past", "not-iso", "both", "neither"],
)
def test_bad_key_input_writes_nothing(
    cli: Invoke, migrated_database_url: str, args: tuple[str, ...]
) -> None:
    clinic = _add_clinic(cli)
    with_clinic = () if args == () else ("--clinic", clinic)
    result = cli("keys", "create", *with_clinic, *args)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("error: ")
    assert _count(migrated_database_url, clinic_api_keys) == 0


def test_key_for_unknown_clinic(cli: Invoke, migrated_database_url: str) -> None:
    result = cli("keys", "create", "--clinic", str(uuid.UUID(int=3)))
    assert result.exit_code == 1
    assert "no clinic" in result.stderr
    assert _count(migrated_database_url, clinic_api_keys) == 0


def test_embedded_sqlite_schema_is_created_on_first_use(
    sqlite_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": sqlite_url, "ENCRYPTION_KEY": KEY, "ENCRYPTION_KEY_PREVIOUS": None}
    result = CliRunner().invoke(app, ["clinics", "add", "--name", "Fresh"], env=env)
    assert result.exit_code == 0, result.stderr
    assert _count(sqlite_url, clinics) == 1


def test_postgres_without_schema_is_one_clear_line(
    postgres_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": postgres_url, "ENCRYPTION_KEY": KEY}
    result = CliRunner().invoke(app, ["clinics", "list"], env=env)
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert "pims-sync db upgrade" in result.stderr
