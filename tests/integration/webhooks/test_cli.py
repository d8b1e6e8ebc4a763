"""`pims-sync webhooks …` against SQLite and Postgres, with a real receiver on 127.0.0.1."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from pims_sync.adapters.sql.tables import webhook_endpoints
from pims_sync.cli.app import app
from tests.integration.test_admin_cli import KEY, OLD_KEY, _ok, _rows
from tests.integration.webhooks.receiver import Receiver, signature_ok

Invoke = Callable[..., Result]


@pytest.fixture
def cli(migrated_database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    """Run `pims-sync ...` in-process with this database, loopback receivers allowed."""
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def invoke(*args: str, **env: str | None) -> Result:
        base: dict[str, str | None] = {
            "DATABASE_URL": migrated_database_url,
            "ENCRYPTION_KEY": KEY,
            "ENCRYPTION_KEY_PREVIOUS": None,
            "WEBHOOKS_ALLOW_PRIVATE": "true",
        }
        return runner.invoke(app, list(args), env={**base, **env})

    return invoke


def test_add_list_test_deliveries_remove(cli: Invoke, receiver: Receiver) -> None:
    clinic = _ok(cli("clinics", "add", "--name", "Happy Paws")).stdout.strip()
    added = _ok(
        cli(
            "webhooks",
            "add",
            "--clinic",
            clinic,
            "--url",
            receiver.url,
            "--events",
            "case.created,sync.failed",
        )
    )
    secret = added.stdout.strip()
    assert secret.startswith("whsec_")
    assert "will not be shown again" in added.stderr
    listed = json.loads(_ok(cli("webhooks", "list", "--clinic", clinic, "--json")).stdout)
    [webhook] = listed
    assert webhook["eventTypes"] == ["case.created", "sync.failed"]
    assert "secret" not in json.dumps(listed).lower().replace("webhooksecrets", "")
    assert secret not in _ok(cli("webhooks", "list")).stdout

    tested = _ok(cli("webhooks", "test", webhook["id"]))
    [request] = receiver.snapshot()
    assert tested.stdout.startswith("status: 200 in ")
    assert request.webhook_id in tested.stdout  # the receiver's answer is printed
    assert signature_ok(secret, request)
    assert request.json["type"] == "webhook.test"
    assert request.json["data"]["seq"] == 0

    receiver.script = [503]
    failed = cli("webhooks", "test", webhook["id"], "--json")
    assert failed.exit_code == 1
    answer = json.loads(failed.stdout)
    assert (answer["delivered"], answer["statusCode"], answer["error"]) == (
        False,
        503,
        "answered 503",
    )

    log = json.loads(_ok(cli("webhooks", "deliveries", webhook["id"], "--json")).stdout)
    assert [(d["seq"], d["outcome"], d["statusCode"]) for d in log] == [
        (0, "failed", 503),
        (0, "delivered", 200),
    ]
    assert "Removed webhook" in _ok(cli("webhooks", "remove", webhook["id"])).stdout
    gone = cli("webhooks", "remove", webhook["id"])
    assert gone.exit_code == 1
    assert f"no webhook with id {webhook['id']}" in gone.stderr


def test_refusals_are_one_clear_line_and_store_nothing(
    cli: Invoke, migrated_database_url: str
) -> None:
    clinic = _ok(cli("clinics", "add", "--name", "Happy Paws")).stdout.strip()
    cases = [
        (
            ("--url", "http://127.0.0.1:9/x"),
            {"WEBHOOKS_ALLOW_PRIVATE": "false"},
            "WEBHOOKS_ALLOW_PRIVATE=true",
        ),
        (("--url", "gopher://example.com/"), {}, "http:// or https://"),
        (
            ("--url", "http://127.0.0.1:9/x", "--events", "case.made"),
            {},
            "unknown event type 'case.made'",
        ),
        (("--url", "http://127.0.0.1:9/x", "--events", ","), {}, "--events must name at least one"),
    ]
    for options, env, words in cases:
        refused = cli("webhooks", "add", "--clinic", clinic, *options, **env)
        assert refused.exit_code == 1, refused.stdout
        assert words in refused.stderr
        assert refused.stdout == ""
    unknown = cli(
        "webhooks",
        "add",
        "--clinic",
        "5b7a9f53-3a9c-4c5e-9d61-4f2f5d8d7e10",
        "--url",
        "http://127.0.0.1:9/x",
    )
    assert unknown.exit_code == 1
    assert "no clinic with id" in unknown.stderr
    assert _rows(migrated_database_url, webhook_endpoints) == []


def test_credentials_rotate_reseals_webhook_secrets(cli: Invoke, receiver: Receiver) -> None:
    clinic = _ok(cli("clinics", "add", "--name", "Happy Paws")).stdout.strip()
    secret = _ok(
        cli("webhooks", "add", "--clinic", clinic, "--url", receiver.url, ENCRYPTION_KEY=OLD_KEY)
    ).stdout.strip()
    webhook = json.loads(_ok(cli("webhooks", "list", "--json")).stdout)[0]["id"]
    unreadable = cli("webhooks", "test", webhook)
    assert unreadable.exit_code == 1
    assert f"could not decrypt the secret of webhook {webhook}" in unreadable.stderr
    rotated = json.loads(
        _ok(cli("credentials", "rotate", "--json", ENCRYPTION_KEY_PREVIOUS=OLD_KEY)).stdout
    )
    assert rotated == {"reencrypted": 0, "webhookSecrets": 1}
    _ok(cli("webhooks", "test", webhook))
    assert signature_ok(secret, receiver.snapshot()[-1])
