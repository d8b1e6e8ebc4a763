"""`pims-sync demo` as a real process: simulator, Chromium, a full sync over HTTP, Ctrl-C."""

from __future__ import annotations

import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_serve import environment, free_port, port_open
from tests.log_scan import feed

START_TIMEOUT_S = 120
KEY_LINE = re.compile(r"^API key of the demo clinic ([0-9a-f-]{36}) .*:\n\s+(\S+)$", re.MULTILINE)

pytestmark = pytest.mark.browser


def wait_for_key(process: subprocess.Popen[str], output: list[str]) -> tuple[str, str]:
    """Read stdout until the demo prints its key; (clinic id, key)."""
    assert process.stdout is not None
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        output.append(line)
        found = KEY_LINE.search("".join(output))
        if found and "Serving on" in line:
            return found.group(1), found.group(2)
    process.kill()
    _, stderr = process.communicate()
    pytest.fail(f"the demo did not print its key:\n{''.join(output)}\n{stderr}")


def test_demo_syncs_through_the_api_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    if shutil.which("chromium") is None and not Path("/usr/lib/chromium/chromium").exists():
        pytest.skip("Chromium is not installed (scripts/ensure-chromium.sh)")
    port, simulator_port = free_port(), free_port()
    env = environment(tmp_path, PYTHONUNBUFFERED="1")
    env.pop("DATABASE_URL")  # the demo uses its own file in the working directory
    command = [sys.executable, "-m", "pims_sync", "demo", "--port", str(port)]
    process = subprocess.Popen(
        [*command, "--simulator-port", str(simulator_port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    output: list[str] = []
    try:
        clinic_id, key = wait_for_key(process, output)
        printed = "".join(output)
        assert "a random key made for this demo" in printed
        assert re.search(r"^inbound\s+ok\s+appointments found [1-9]", printed, re.MULTILINE)
        assert re.search(r"^cases\s+ok\s+cases found [1-9]", printed, re.MULTILINE)
        assert re.search(r"^reconciliation\s+ok", printed, re.MULTILINE)
        assert re.search(r"^Sync \S+ completed in", printed, re.MULTILINE)
        assert f'curl -H "X-API-Key: {key}" http://127.0.0.1:{port}/api/sync/history' in printed
        availability = f"http://127.0.0.1:{port}/api/availability?days=2&duration=30"
        assert f'curl -H "X-API-Key: {key}" "{availability}"' in printed
        assert (tmp_path / "pims-sync-demo.db").exists()

        base = f"http://127.0.0.1:{port}"
        headers = {"X-API-Key": key}
        history = httpx.get(f"{base}/api/sync/history", headers=headers, timeout=10).json()
        assert history["total"] == 1
        [run] = history["runs"]
        assert (run["type"], run["status"], run["triggeredBy"]) == ("full", "completed", "api")
        assert run["stats"]["casesCreated"] > 0
        # The demo clinic has the simulator's hours: the synced days answer at once.
        free = httpx.get(availability, headers=headers, timeout=30).json()
        assert free["freshness"]["status"] == "fresh", free["freshness"]
        columns = {c for day in free["days"] for s in day["slots"] for c in s["resourceIds"]}
        assert columns, free
        assert columns <= {"6", "7", "8", "9"}, columns
        clinic = httpx.get(f"{base}/api/clinic", headers=headers, timeout=10).json()
        assert clinic["clinic"]["id"] == clinic_id
        assert clinic["clinic"]["timezone"] == "America/Los_Angeles"
        again = httpx.post(
            f"{base}/api/sync/inbound", json={"daysAhead": 1}, headers=headers, timeout=60
        )
        assert again.status_code == 200, again.text
        assert again.json()["stats"]["casesCreated"] == 0  # the demo already synced them
        assert httpx.get(f"{base}/health", timeout=10).json()["status"] == "healthy"
        link = re.search(rf"^  ({re.escape(base)}/dashboard/sign-in\?token=\S+)$", printed, re.M)
        assert link, printed
        assert key not in link.group(1)  # the key never goes into a URL
        with httpx.Client(timeout=10) as browser:
            signed_in = browser.get(link.group(1), follow_redirects=True)
            assert signed_in.status_code == 200
            assert "Demo Veterinary Clinic" in signed_in.text
            used = httpx.get(link.group(1), timeout=10)
            assert used.status_code == 401  # a one-time link
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=60)
    feed(stderr, "pims-sync demo")  # its logs; stdout shows the demo's key on purpose
    assert process.returncode == 0, stderr
    assert stdout.strip().endswith("Stopped.")
    assert not port_open(port)
    assert not port_open(simulator_port)
