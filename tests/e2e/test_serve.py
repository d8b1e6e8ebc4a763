"""`pims-sync serve` as a real process: it serves, stops on SIGTERM, refuses bad config."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from pims_sync.cli.app import app as cli
from tests.log_scan import feed

KEY = "e2e-encryption-key-0123456789abcdefghij"
CONFIG_VARIABLES = (
    "DATABASE_URL",
    "SUPABASE_DB_URL",
    "SUPABASE_URL",
    "ENCRYPTION_KEY",
    "IDEXX_ENCRYPTION_KEY",
    "ENCRYPTION_KEY_PREVIOUS",
    "PORT",
    "HOST",
    "ENVIRONMENT",
    "NODE_ENV",
    "IDEXX_BASE_URL",
    "LOG_LEVEL",
)
START_TIMEOUT_S = 60


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def port_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def environment(tmp_path: Path, **values: str) -> dict[str, str]:
    """The test's environment minus any pims-sync configuration, plus `values`."""
    env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARIABLES}
    env.update(DATABASE_URL=f"sqlite:///{tmp_path / 'pims-sync.db'}", HOST="127.0.0.1")
    env.update(values)
    return env


def start(tmp_path: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "pims_sync", "serve"],
        cwd=tmp_path,  # no stray .env is read
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until_serving(process: subprocess.Popen[str], base: str) -> httpx.Response | None:
    """The first /health answer; None if the process died (e.g. its port was taken)."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return None
        try:
            return httpx.get(f"{base}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.1)
    process.kill()
    pytest.fail(f"serve did not answer within {START_TIMEOUT_S} s: {process.communicate()[1]}")


def start_serving(tmp_path: Path, **values: str) -> tuple[subprocess.Popen[str], int]:
    """Start `serve` on a free port, trying another if a parallel test took it first."""
    for _ in range(3):
        port = free_port()
        process = start(tmp_path, environment(tmp_path, PORT=str(port), **values))
        health = wait_until_serving(process, f"http://127.0.0.1:{port}")
        if health is not None:
            assert health.status_code == 200, health.text
            assert health.json()["status"] == "healthy"
            return process, port
        stderr = process.communicate()[1]
        feed(stderr, "pims-sync serve")
        if "address already in use" not in stderr.lower():
            pytest.fail(f"serve exited with {process.returncode}: {stderr}")
    pytest.fail("no free port after 3 attempts")


def test_serve_answers_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process, port = start_serving(tmp_path, ENCRYPTION_KEY=KEY, ENVIRONMENT="production")
    try:
        base = f"http://127.0.0.1:{port}"
        ready = httpx.get(f"{base}/ready", timeout=5)
        assert ready.status_code == 200
        assert ready.json() == {**ready.json(), "status": "ready", "database": "connected"}
        missing = httpx.get(f"{base}/api/clinic", timeout=5)
        assert (missing.status_code, missing.json()["code"]) == (401, "missing_api_key")
    finally:
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=45)
    feed(stderr, "pims-sync serve")
    assert process.returncode == 0, stderr
    assert not port_open(port)
    # Production logs are JSON lines, uvicorn's included; the key never appears.
    lines = [line for line in stderr.splitlines() if line.strip()]
    records = [json.loads(line) for line in lines if line.startswith("{")]
    assert len(records) == len(lines), stderr
    assert {"timestamp", "level", "logger", "message"} <= set(records[0])
    assert any(r["logger"].startswith("uvicorn") for r in records)
    assert KEY not in stderr
    assert (tmp_path / "pims-sync.db").exists()  # the embedded schema was created


BAD_CONFIGURATIONS = {
    "short key": ({"ENCRYPTION_KEY": "too-short"}, "ENCRYPTION_KEY must be at least 32 characters"),
    "bad PIMS URL": (
        {"ENCRYPTION_KEY": KEY, "IDEXX_BASE_URL": "ftp://example.com"},
        "IDEXX_BASE_URL: must be an http:// or https:// URL",
    ),
    "bad port": ({"ENCRYPTION_KEY": KEY, "PORT": "99999"}, "PORT: "),  # + "65535" below
}


def test_bad_configuration_exits_before_listening(tmp_path: Path) -> None:
    # Started together: each is a fresh interpreter, and imports dominate its run time.
    runs = {}
    for name, (values, _) in BAD_CONFIGURATIONS.items():
        workdir = tmp_path / name.replace(" ", "-")
        workdir.mkdir()
        port = int(values.get("PORT", free_port()))
        env = environment(workdir, **{"PORT": str(port), **values})
        runs[name] = (start(workdir, env), port, workdir)
    for name, (process, port, workdir) in runs.items():
        _, stderr = process.communicate(timeout=60)
        feed(stderr, "pims-sync serve")
        expected = BAD_CONFIGURATIONS[name][1]
        assert process.returncode == 2, (name, stderr)
        lines = [line for line in stderr.splitlines() if line.strip()]
        assert len(lines) == 1, (name, stderr)
        assert lines[0].startswith("error: ")
        assert expected in lines[0], (name, lines[0])
        assert "Uvicorn running" not in stderr
        if name == "bad port":
            assert "65535" in lines[0]
        assert port > 65535 or not port_open(port)
        assert not (workdir / "pims-sync.db").exists()  # nothing was started or created


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({}, "ENCRYPTION_KEY is required"),
        (
            {"ENCRYPTION_KEY": KEY, "DATABASE_URL": "mysql://db/x"},
            "DATABASE_URL: must start with sqlite:/// or postgresql://",
        ),
        (
            {"ENCRYPTION_KEY": KEY, "SUPABASE_URL": "https://x.supabase.co"},
            "set DATABASE_URL to the project's Postgres connection string",
        ),
    ],
)
def test_more_bad_configuration_in_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, values: dict[str, str], expected: str
) -> None:
    # The same command in-process (a new interpreter per case would only add import time).
    monkeypatch.chdir(tmp_path)
    for name in CONFIG_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    env = {"DATABASE_URL": f"sqlite:///{tmp_path / 'pims-sync.db'}", "PORT": "1", **values}
    if "SUPABASE_URL" in values:
        env.pop("DATABASE_URL")
    result = CliRunner().invoke(cli, ["serve"], env=env)
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("error: ")
    assert expected in lines[0]
    assert not (tmp_path / "pims-sync.db").exists()
