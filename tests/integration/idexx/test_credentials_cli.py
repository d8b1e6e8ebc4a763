"""`pims-sync credentials test` against the simulator (real Chromium)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pims_sync.cli.app import app
from pims_sync.simulator.config import DEFAULTS
from pims_sync.simulator.server import BackgroundSimulator

pytestmark = pytest.mark.browser
KEY = "credentials-test-key-0123456789abcdef"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_credentials_test_reports_success_and_the_pims_message(
    migrated_database_url: str,
    simulator: BackgroundSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {
        "DATABASE_URL": migrated_database_url,
        "ENCRYPTION_KEY": KEY,
        "IDEXX_BASE_URL": simulator.base_url,
        "HEADLESS": "true",
    }
    runner = CliRunner()

    def cli(*args: str, password: str | None = None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), input=password, env=env)
        return result.exit_code, result.output

    code, output = cli("clinics", "add", "--name", "Sim Clinic", "--json")
    assert code == 0, output
    clinic_id = json.loads(output)["id"]
    store = ("credentials", "set", "--clinic", clinic_id, "--username", DEFAULTS.username)
    company = ("--company-id", str(DEFAULTS.company_id))

    assert cli(*store, *company, password=DEFAULTS.password + "\n")[0] == 0
    code, output = cli("credentials", "test", "--clinic", clinic_id, "--json")
    assert code == 0, output
    assert json.loads(output)["ok"] is True

    assert cli(*store, *company, password="wrong-password\n")[0] == 0
    code, output = cli("credentials", "test", "--clinic", clinic_id)
    assert code == 1
    assert "Invalid username or password" in output
    assert "wrong-password" not in output
