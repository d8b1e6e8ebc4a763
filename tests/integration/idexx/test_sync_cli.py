"""`pims-sync sync …` and `pims-sync history` against the simulator (real Chromium)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pims_sync.cli.app import app
from pims_sync.simulator.config import DEFAULTS
from pims_sync.simulator.server import BackgroundSimulator

pytestmark = pytest.mark.browser
KEY = "sync-cli-test-key-0123456789abcdefghij"


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_sync_commands_run_in_process_and_history_lists_them(
    migrated_database_url: str,
    simulator: BackgroundSimulator,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": migrated_database_url, "ENCRYPTION_KEY": KEY}
    runner = CliRunner()

    def cli(*args: str, password: str | None = None, **extra: str | None) -> tuple[int, str]:
        result = runner.invoke(app, list(args), input=password, env={**env, **extra})
        return result.exit_code, result.output

    def clinic_with(password: str) -> str:
        code, output = cli("clinics", "add", "--name", "Sim Clinic", "--json")
        assert code == 0, output
        clinic_id: str = json.loads(output)["id"]
        store = ("credentials", "set", "--clinic", clinic_id, "--username", DEFAULTS.username)
        company = ("--company-id", str(DEFAULTS.company_id), "--base-url", simulator.base_url)
        assert cli(*store, *company, password=password + "\n")[0] == 0
        return clinic_id

    clinic_id = clinic_with(DEFAULTS.password)
    code, output = cli("sync", "inbound", "--clinic", clinic_id, "--days-ahead", "1", "--json")
    assert code == 0, output
    inbound = json.loads(output[output.index("{") :])
    assert inbound["success"] is True
    assert inbound["stats"]["appointmentsFound"] > 0
    assert inbound["stats"]["casesCreated"] == inbound["stats"]["appointmentsFound"]

    code, output = cli("sync", "reconcile", "--clinic", clinic_id, "--dry-run", "--json")
    assert code == 0, output
    assert json.loads(output[output.index("{") :])["dryRun"] is True

    code, output = cli("sync", "inbound", "--clinic", clinic_id, "--days-ahead", "91")
    assert code == 1
    assert "--days-ahead: must be a whole number from 0 to 90" in output
    code, output = cli("sync", "full", "--clinic", clinic_id, ENCRYPTION_KEY=None)
    assert code == 2
    assert "ENCRYPTION_KEY is required" in output

    code, output = cli("history", "--clinic", clinic_id, "--json")
    assert code == 0, output
    history = json.loads(output)
    assert [run["type"] for run in history["runs"]] == ["reconciliation", "inbound"]
    assert {run["triggeredBy"] for run in history["runs"]} == {"cli"}
    assert (history["total"], history["successRate"]) == (2, 100.0)
    code, output = cli("history", "--clinic", clinic_id)
    assert code == 0, output
    assert "Success rate: 100% of 2 finished run(s)" in output

    refused = clinic_with("wrong-password")
    code, output = cli("sync", "inbound", "--clinic", refused, "--days-ahead", "1")
    assert code == 1
    assert "error: PIMS login failed: Invalid username or password" in output
    assert "wrong-password" not in output
