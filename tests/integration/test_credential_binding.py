"""Issue 20, items 7, 8 and 11: credentials bound to their row, the session cache bound to the
credentials, and the base URLs a password may be sent to."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from uuid import UUID

import pytest
from click.testing import Result
from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncEngine
from typer.testing import CliRunner

from pims_sync import crypto
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.session_cache import SqlSessionCache
from pims_sync.adapters.sql.tables import pims_credentials, pims_session_cache
from pims_sync.adapters.sql.vault import SqlCredentialVault
from pims_sync.cli.app import app
from pims_sync.domain.credentials import PimsCredentials, session_binding
from pims_sync.errors import DecryptionError, InvalidInputError

KEY = "binding-test-key-0123456789abcdefghijkl"
PASSWORD = "pw-of-clinic-alpha"
COOKIES = '[{"name": "neo_session", "value": "alpha-session-token"}]'


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    built = create_async_db_engine(migrated_database_url)
    yield built
    await built.dispose()


async def _clinics(engine: AsyncEngine) -> tuple[UUID, UUID]:
    store = SqlClinicStore(engine)
    return (await store.add(name="Alpha")).id, (await store.add(name="Bravo")).id


async def _blob(engine: AsyncEngine, table: Table, column: str, clinic_id: UUID) -> str:
    query = select(table.c[column]).where(table.c.clinic_id == clinic_id)
    async with engine.connect() as conn:
        value: str = (await conn.execute(query)).scalar_one()
        return value


async def _copy(engine: AsyncEngine, table: Table, column: str, source: UUID, to: UUID) -> None:
    """What someone with write access to the database does: one row's blob into another's."""
    blob = await _blob(engine, table, column, source)
    async with engine.begin() as conn:
        await conn.execute(update(table).where(table.c.clinic_id == to).values({column: blob}))


async def test_a_credentials_blob_copied_to_another_clinic_does_not_decrypt(
    engine: AsyncEngine,
) -> None:
    alpha, bravo = await _clinics(engine)
    vault = SqlCredentialVault(engine, KEY)
    await vault.save(alpha, PimsCredentials("alpha@example.com", PASSWORD, "1"))
    await vault.save(bravo, PimsCredentials("bravo@example.com", "pw-of-bravo", "2"))
    await _copy(engine, pims_credentials, "encrypted_data", alpha, bravo)
    with pytest.raises(DecryptionError, match=f"clinic {bravo}"):
        await vault.load(bravo)
    assert (await vault.load(alpha)).password == PASSWORD


async def test_the_originals_unbound_blobs_open_until_rotate_binds_them(
    engine: AsyncEngine,
) -> None:
    alpha, bravo = await _clinics(engine)
    vault = SqlCredentialVault(engine, KEY)
    await vault.save(alpha, PimsCredentials("a", "x"))
    await vault.save(bravo, PimsCredentials("b", "y"))
    legacy = crypto.encrypt(PimsCredentials("alpha@example.com", PASSWORD).to_json(), KEY)
    async with engine.begin() as conn:
        await conn.execute(
            update(pims_credentials)
            .where(pims_credentials.c.clinic_id == alpha)
            .values(encrypted_data=legacy)
        )
    assert (await vault.load(alpha)).password == PASSWORD  # the original's format reads
    assert await vault.rotate() == 2
    bound = await _blob(engine, pims_credentials, "encrypted_data", alpha)
    with pytest.raises(DecryptionError):
        crypto.decrypt(bound, KEY)  # no longer the unbound format
    assert json.loads(crypto.decrypt(bound, KEY, bound_to=str(alpha)))["password"] == PASSWORD
    await _copy(engine, pims_credentials, "encrypted_data", alpha, bravo)
    with pytest.raises(DecryptionError):
        await vault.load(bravo)


async def test_a_cached_session_copied_to_another_clinic_is_not_used(engine: AsyncEngine) -> None:
    alpha, bravo = await _clinics(engine)
    cache = SqlSessionCache(engine, KEY)
    await cache.save(alpha, COOKIES, "same-binding")
    await cache.save(bravo, "[]", "same-binding")
    await _copy(engine, pims_session_cache, "encrypted_cookies", alpha, bravo)
    assert await cache.load(bravo, "same-binding") is None
    assert await cache.load(alpha, "same-binding") == COOKIES


async def test_a_cached_session_is_only_for_the_credentials_that_opened_it(
    engine: AsyncEngine,
) -> None:
    alpha, _ = await _clinics(engine)
    cache = SqlSessionCache(engine, KEY)
    login = PimsCredentials("alpha@example.com", PASSWORD, "1")
    opened = session_binding("https://us.idexxneo.com", login)
    await cache.save(alpha, COOKIES, opened)
    others = [
        session_binding("https://attacker.example", login),
        session_binding("https://us.idexxneo.com", PimsCredentials("other@example.com", "p", "1")),
        session_binding("https://us.idexxneo.com", PimsCredentials(login.username, "p", "2")),
    ]
    assert len(set(others)) == 3
    assert opened not in others
    assert session_binding("https://us.idexxneo.com/", PimsCredentials(login.username, "new")) == (
        session_binding("https://us.idexxneo.com", PimsCredentials(login.username, "old", None))
    )
    assert await cache.load(alpha, others[0]) is None
    assert await cache.load(alpha, opened) is None  # the mismatch dropped the row


async def test_storing_credentials_drops_the_clinics_cached_session(engine: AsyncEngine) -> None:
    alpha, bravo = await _clinics(engine)
    cache, vault = SqlSessionCache(engine, KEY), SqlCredentialVault(engine, KEY)
    await cache.save(alpha, COOKIES, "b")
    await cache.save(bravo, COOKIES, "b")
    await vault.save(alpha, PimsCredentials("alpha@example.com", "changed password"))
    assert await cache.load(alpha, "b") is None
    assert await cache.load(bravo, "b") == COOKIES


async def test_a_stored_base_url_outside_the_rules_is_refused_at_load(
    engine: AsyncEngine,
) -> None:
    alpha, _ = await _clinics(engine)
    stored = PimsCredentials("a@example.com", PASSWORD, "1", "https://10.1.2.3")
    await SqlCredentialVault(engine, KEY).save(alpha, stored)
    with pytest.raises(InvalidInputError, match="private address"):
        await SqlCredentialVault(engine, KEY).load(alpha)
    allowed = SqlCredentialVault(engine, KEY, allow_private_base_url=True)
    assert (await allowed.load(alpha)).base_url == "https://10.1.2.3"


Invoke = Callable[..., Result]


@pytest.fixture
def cli(migrated_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    base = {"DATABASE_URL": migrated_database_url, "ENCRYPTION_KEY": KEY}

    def invoke(*args: str, **env: str | None) -> Result:
        return runner.invoke(app, list(args), env={**base, **env})

    return invoke


def _set(cli: Invoke, clinic: str, url: str, **env: str | None) -> Result:
    args = ["--username", "vet@example.com", "--password", PASSWORD, "--base-url", url, "--json"]
    return cli("credentials", "set", "--clinic", clinic, *args, **env)


@pytest.mark.parametrize(
    ("url", "error"),
    [
        ("http://user:pw-in-url@169.254.169.254/latest", "user name or password"),
        ("https://169.254.169.254/latest", "link-local"),
        ("https://2852039166/", "link-local"),  # 169.254.169.254 as one number
        ("https://[fe80::1]/", "link-local"),
        ("https://10.0.0.8", "PIMS_ALLOW_PRIVATE_BASE_URL"),
        ("https://192.168.1.20", "private address"),
        ("http://us.idexxneo.com", "must use https://"),
        ("https://us.idexxneo.com/?next=x", "query"),
        ("https://us.idexxneo.com/#x", "fragment"),
    ],
)
def test_credentials_set_refuses_base_urls_a_password_must_not_go_to(
    cli: Invoke, url: str, error: str
) -> None:
    clinic = cli("clinics", "add", "--name", "Paws").stdout.strip()
    result = _set(cli, clinic, url)
    assert result.exit_code == 1
    assert error in result.stderr
    assert result.stdout == ""
    assert "pw-in-url" not in result.stderr
    assert PASSWORD not in result.stdout + result.stderr


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:8780", "http://localhost:8780", "http://[::1]:8780", "https://x.example"],
)
def test_credentials_set_accepts_loopback_http_and_public_https(cli: Invoke, url: str) -> None:
    clinic = cli("clinics", "add", "--name", "Paws").stdout.strip()
    result = _set(cli, clinic, url)
    assert result.exit_code == 0, result.stderr
    assert json.loads(result.stdout)["baseUrl"] == url
    assert PASSWORD not in result.stdout


def test_private_base_urls_need_the_setting(cli: Invoke) -> None:
    clinic = cli("clinics", "add", "--name", "Paws").stdout.strip()
    result = _set(cli, clinic, "https://10.0.0.8", PIMS_ALLOW_PRIVATE_BASE_URL="true")
    assert result.exit_code == 0, result.stderr
    refused = _set(cli, clinic, "https://169.254.169.254", PIMS_ALLOW_PRIVATE_BASE_URL="true")
    assert refused.exit_code == 1  # link-local is never a PIMS
