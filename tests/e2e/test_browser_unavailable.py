"""A Chromium that cannot start, through the real processes: `serve`, `credentials test`, …

`BROWSER_EXECUTABLE_PATH` names a missing file: a sync over the API answers 503
`pims_browser_unavailable` and its audit row says why; `credentials test`, `sync inbound`
and `doctor` each print one line and exit 1, without a traceback.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import httpx
from typer.testing import CliRunner

from pims_sync.adapters.idexx.browser_errors import BROWSER_FIX
from pims_sync.cli.app import app as cli
from tests.e2e.sync_stack import Database
from tests.e2e.test_serve import KEY, environment, start_serving
from tests.log_scan import feed

# A closed port: `doctor` reads the login page over HTTP before it logs in.
PIMS_URL = "http://127.0.0.1:9"
PASSWORD = "browser-e2e-password"


def set_up_clinic(env: dict[str, str]) -> tuple[str, str]:
    """A clinic with stored credentials and an API key, made by the CLI: (clinic id, key)."""
    runner = CliRunner()

    def run(*args: str, given: str | None = None) -> str:
        result = runner.invoke(cli, list(args), input=given, env=env)
        assert result.exit_code == 0, result.output
        return result.stdout

    clinic_id = json.loads(run("clinics", "add", "--name", "No Browser Clinic", "--json"))["id"]
    run("credentials", "set", "--clinic", clinic_id, "--username", "vet", given=PASSWORD + "\n")
    key = json.loads(run("keys", "create", "--clinic", clinic_id, "--json"))["key"]
    return clinic_id, key


def test_a_missing_browser_is_a_503_an_audit_row_and_one_line(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope" / "chromium")
    values = {"ENCRYPTION_KEY": KEY, "IDEXX_BASE_URL": PIMS_URL, "BROWSER_EXECUTABLE_PATH": missing}
    env = environment(tmp_path, **values)
    clinic_id, api_key = set_up_clinic(env)
    expected = f"Chromium could not start ({missing}: no such file): {BROWSER_FIX}"

    process, port = start_serving(tmp_path, **values)
    try:
        base = f"http://127.0.0.1:{port}"
        answer = httpx.post(
            f"{base}/api/sync/inbound", headers={"X-API-Key": api_key}, json={}, timeout=60
        )
        detail = httpx.get(
            f"{base}/api/sync/{answer.json().get('syncId')}",
            headers={"X-API-Key": api_key},
            timeout=10,
        )
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=45)
    feed(stderr, "pims-sync serve")
    assert process.returncode == 0, stderr
    body = answer.json()
    assert answer.status_code == 503, body
    assert body == {**body, "success": False, "code": "pims_browser_unavailable"}
    assert body["error"] == expected
    assert "Traceback" not in stderr

    assert detail.status_code == 200, detail.text
    assert (detail.json()["status"], detail.json()["error"]) == ("failed", expected)
    database = Database(env["DATABASE_URL"])
    try:
        audit, _ = database.audits(body["syncId"])
    finally:
        database.engine.dispose()
    assert (audit["status"], audit["error_message"]) == ("failed", expected)
    assert audit["result"]["code"] == "pims_browser_unavailable"

    commands = {
        "credentials test": ["credentials", "test", "--clinic", clinic_id],
        "sync inbound": ["sync", "inbound", "--clinic", clinic_id],
        "doctor": ["doctor", "--clinic", clinic_id],
    }
    # Started together: each is a fresh interpreter, and imports dominate its run time.
    running = {
        name: subprocess.Popen(
            [sys.executable, "-m", "pims_sync", *args],
            cwd=tmp_path,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, args in commands.items()
    }
    for name, command in running.items():
        stdout, stderr = command.communicate(timeout=60)
        feed(stderr, f"pims-sync {name}")
        assert command.returncode == 1, (name, stdout, stderr)
        assert stdout == "", (name, stdout)
        assert stderr.splitlines() == [f"error: {expected}"], (name, stderr)
