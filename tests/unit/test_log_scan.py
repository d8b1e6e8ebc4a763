"""The log scan (tests/log_scan.py) finds what it must, masks it, and fails the session.

If the scanner could not fail, a clean scan of the whole run would prove nothing: here a
pytest session in a subprocess logs planted secrets and must fail, naming each kind
without printing the secret; the same session without the leak passes.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path

from pims_sync.simulator.dataset import Client, Patient
from tests.log_scan import Registry, mask, scan_line

ROOT = Path(__file__).resolve().parents[2]
PLANTED = "planted-secret-4c1e"
KEY = "0f" * 32


def registry() -> Registry:
    made = Registry()
    made.secret(PLANTED, "PIMS password")
    made.secret("pw", "PIMS password")  # too short to tell from ordinary text: ignored
    made.client(
        Client(
            id=1,
            title="Mr",
            first_name="JOSÉ",
            last_name="MUÑOZ",
            email="jose.munoz12@example.com",
            mobile_phone="408-555-0142",
            home_phone="6505550199",
            work_phone=None,
            street="1 Main St",
            city="San Jose",
            state="CA",
            zip="95112",
            registered_at=datetime(2020, 1, 1, tzinfo=UTC),
        )
    )
    for name in ("BELLA", "MAX"):
        made.patient(
            Patient(
                id=1,
                name=name,
                species=("4", "Canine"),
                breed=("1", "Mixed"),
                gender=("M", "Male"),
                color="Black",
                date_of_birth=date(2020, 1, 1),
                weight_kg=1.0,
                client_id=1,
            )
        )
    return made


def kinds(line: str) -> list[str]:
    return sorted(finding.kind for finding in scan_line(registry(), line, test="t", logger="l"))


def test_each_kind_of_leak_is_found() -> None:
    assert kinds(f"login with {PLANTED}") == ["PIMS password"]
    assert kinds(f"key {KEY} rejected") == ["API key (64 hex) or its hash"]
    assert kinds("cookie neo_session=Zq3x_9aB-cdEfGh; Path=/") == ["session cookie"]
    assert kinds('{"message": "case for JOSÉ MUÑOZ"}') == ["client name"]
    assert kinds("owner José  Muñoz called") == ["client name"]  # any case, any spacing
    assert kinds("call 4085550142 or 650-555-0199") == ["client phone", "client phone"]
    assert kinds("mail JOSE.MUNOZ12@example.com") == ["client e-mail"]
    assert kinds("patient BELLA (canine)") == ["patient name"]


def test_ordinary_lines_are_not_findings() -> None:
    ordinary = [
        "pims calendar fetched appointments=42 endpoint=calendar",
        "sync run finished: success [clinic_id=6f1c2a9e-1b2c-4d5e-8f90-123456789abc]",
        "GET /api/sync/history?clinicId=6f1c2a9e-1b2c-4d5e-8f90-123456789abc 200",
        "BELLAMY and ISABELLA are other words; MAX is too short to be told from a word",
        "José called Muñoz-Pérez",  # not the client's two names side by side
        "commit 3f2a9b7c1d4e5f60718293a4b5c6d7e8f9012345 (40 hex: not a key)",
        "phone 408-555-0143 is nobody's; 14085550142 is no phone",
        "pw is short",
        "neo_session= (empty)",
    ]
    for line in ordinary:
        assert kinds(line) == [], line


def test_the_excerpt_masks_every_finding() -> None:
    line = f"retry for JOSÉ MUÑOZ with {PLANTED} and key {KEY}"
    findings = scan_line(registry(), line, test="t", logger="pims_sync.x")
    assert len(findings) == 3
    for finding in findings:
        assert PLANTED not in finding.excerpt
        assert KEY not in finding.excerpt
        assert "MUÑOZ" not in finding.excerpt
        assert mask(PLANTED) in finding.excerpt
        assert "pims_sync.x" in finding.describe()


INNER_TEST = """
import logging
import threading
from pathlib import Path

from pims_sync.domain.credentials import PimsCredentials
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.world import World
from tests.log_scan import feed, feed_file

LOG_FILE = Path(__file__).with_name("worker.log")
QUIET = logging.getLogger("inner.quiet")  # does not propagate: attached on its own
QUIET.propagate = False
LEAK = {leak}


def test_logs() -> None:
    log = logging.getLogger("pims_sync.inner")
    log.info("nothing to see")
    if not LEAK:
        return
    credentials = PimsCredentials("vet@inner.example", "{planted}", "1001")
    clients = World(SimulatorConfig(seed=3)).clinics[0].clients.values()
    client = next(c for c in clients if c.mobile_phone)
    log.info("login failed for %s", credentials.password)
    QUIET.warning("client %s %s", client.first_name, client.last_name)
    thread = threading.Thread(target=log.error, args=("phone %s", client.mobile_phone))
    thread.start()
    thread.join()
    log.info("done", extra={{"cookie": "neo_session=AbCdEf0123456789"}})
    feed("serve said {key}", "pims-sync serve")
    LOG_FILE.write_text("worker started\\n")
    feed_file(LOG_FILE, "pims-sync worker")


def test_later() -> None:
    if LEAK:  # the file of a process started by an earlier test keeps being read
        with LOG_FILE.open("a") as log:
            log.write("login for {planted}\\n")
"""


def start_session(directory: Path, *, leak: bool) -> subprocess.Popen[str]:
    """A pytest session of one test with the plugin, in its own interpreter."""
    directory.mkdir()
    test = directory / "test_inner.py"
    test.write_text(textwrap.dedent(INNER_TEST.format(leak=leak, planted=PLANTED, key=KEY)))
    command = [sys.executable, "-m", "pytest", "-p", "tests.log_scan", "-q", str(test)]
    command += ["-p", "no:cacheprovider", "--rootdir", str(directory), "-W", "ignore"]
    return subprocess.Popen(
        command, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )


def test_a_planted_secret_fails_the_session_and_is_never_printed(tmp_path: Path) -> None:
    leaking = start_session(tmp_path / "leak", leak=True)
    clean = start_session(tmp_path / "clean", leak=False)  # side by side: imports dominate
    out, _ = leaking.communicate(timeout=120)
    assert leaking.returncode == 1, out
    assert "2 passed" in out  # the tests passed: the scan failed the session
    for kind in ("PIMS password", "client name", "client phone", "session cookie", "API key"):
        assert kind in out, kind
    assert "inner.quiet" in out  # a logger that does not propagate is captured too
    assert "pims-sync serve" in out  # and the output of a service process
    assert "pims-sync worker (test test_inner.py::test_later)" in out  # read as it grows
    assert PLANTED not in out
    assert KEY not in out
    assert mask(PLANTED) in out

    clean_out, _ = clean.communicate(timeout=120)
    assert clean.returncode == 0, clean_out
    assert "no secret or personal data" in clean_out
