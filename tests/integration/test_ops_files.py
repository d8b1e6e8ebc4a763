"""Issue 20, item 12 (operations): a pinned, hashed image build; the test Postgres stops."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DIGEST = re.compile(r"@sha256:[0-9a-f]{64}$")


def test_the_image_is_built_from_a_digest_with_a_hashed_uv() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    [base] = re.findall(r"^ARG PYTHON_BASE=(\S+)$", dockerfile, re.MULTILINE)
    assert DIGEST.search(base), base
    stages = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    assert stages
    assert set(stages) == {"${PYTHON_BASE}"}
    assert "--require-hashes" in dockerfile
    assert not re.search(r"pip install[^\n]*uv==", dockerfile)  # never an unhashed uv
    pinned = (ROOT / "docker" / "uv-requirements.txt").read_text()
    assert re.search(r"^uv==\d+\.\d+\.\d+ \\$", pinned, re.MULTILINE)
    assert len(re.findall(r"--hash=sha256:[0-9a-f]{64}", pinned)) >= 2  # x86_64 and aarch64


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _stub(path: Path, body: str) -> None:
    path.write_text(f"#!/usr/bin/env bash\n{body}\n")
    path.chmod(0o755)


@pytest.fixture
def checkout() -> Iterator[Path]:
    """A directory the postgres user can reach (pytest's own are private to their owner)."""
    path = Path(tempfile.mkdtemp(prefix="pims-sync-ops-"))
    path.chmod(0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def _initdb() -> str | None:
    found = shutil.which("initdb") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))), None
    )
    return None if found is None else str(found)


@pytest.mark.skipif(_initdb() is None, reason="no initdb on this machine")
@pytest.mark.skipif(os.geteuid() == 0 and shutil.which("runuser") is None, reason="no runuser")
def test_the_throwaway_postgres_stops_after_failing_tests(checkout: Path) -> None:
    """scripts/test.sh with stand-in tools: pytest fails, and the cluster is stopped anyway."""
    tmp_path = checkout
    shutil.copytree(ROOT / "scripts", tmp_path / "scripts")
    _stub(tmp_path / "scripts" / "ensure-chromium.sh", "exit 0")
    tools = tmp_path / ".venv" / "bin"
    tools.mkdir(parents=True)
    for tool in ("ruff", "mypy", "lint-imports"):
        _stub(tools / tool, "exit 0")
    # The stand-in for pytest: the cluster answers while "tests" run; then they fail.
    _stub(tools / "pytest", 'pg_isready -q -h 127.0.0.1 -p "$PIMS_SYNC_PGTEST_PORT"; exit 3')
    port = str(_free_port())
    env = {k: v for k, v in os.environ.items() if k != "PIMS_SYNC_TEST_POSTGRES_URL"}
    env["PIMS_SYNC_PGTEST_PORT"] = port
    run = subprocess.run(
        [str(tmp_path / "scripts" / "test.sh")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode == 3, run.stdout + run.stderr
    assert f"127.0.0.1:{port}" in run.stdout
    probe = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-p", port], check=False)
    assert probe.returncode != 0  # no longer running
    assert not (tmp_path / ".pgtest" / "started").exists()
