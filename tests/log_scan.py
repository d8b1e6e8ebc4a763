"""Pytest plugin: no secret or personal data in any log line of the test run (docs/api.md).

Every log record at INFO or above, from every logger, is captured for the whole session
and rendered as production renders it (`JsonFormatter`, so the context and `extra`
fields are included); the output of the service processes that tests start is added with
`feed()` / `feed_file()`. After each test its lines are scanned for:

- secrets registered while tests run: PIMS passwords and login e-mails (every
  `PimsCredentials` made, every simulator configuration), encryption keys (every key
  `pims_sync.crypto` derives, `ENCRYPTION_KEY` variables, test constants named like one),
  the simulator's session tokens, and anything a test passes to `register_secret()`;
- the shapes of secrets: `neo_session=<value>` and 64-hex API keys (or their hashes);
- the simulated world's people: client names ("FIRST LAST", any case), patient names of
  4+ letters (upper case, as IDEXX stores them, whole words), client phones (dashed or
  bare) and client e-mails.

A finding fails the session (exit status 1): each is printed with its test, its logger
and an excerpt in which every finding is masked, never the secret itself.
`PIMS_SYNC_LOG_SCAN_DUMP=<file>` appends every scanned line to that file.
"""

from __future__ import annotations

import functools
import itertools
import logging
import os
import re
import sys
import threading
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pims_sync import crypto
from pims_sync.domain import webhooks as webhook_rules
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.logs import ContextFilter, JsonFormatter
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.dataset import Client, Patient, build_clinic
from pims_sync.simulator.state import Sessions
from pims_sync.simulator.world import World
from pims_sync.webhooks import endpoints as webhook_endpoints

MIN_SECRET_LENGTH = 6  # shorter "passwords" of unit tests would match ordinary words
MIN_PATIENT_NAME = 4
EXCERPT_CONTEXT = 50
DEFAULT_WORLD_CLINICS = 3
# Set to a file path to keep every scanned line there (to see what the scan saw).
DUMP = os.environ.get(
    "PIMS_SYNC_LOG_SCAN_DUMP"
)  # subprocess simulators (the demo) use the default seed

API_KEY_SHAPE = re.compile(r"(?<![0-9a-fA-F])[0-9a-f]{64}(?![0-9a-fA-F])")
COOKIE_SHAPE = re.compile(r"neo_session=(?!;|\s|$)[^;\s\"',}]{8,}")
EMAIL_SHAPE = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PHONE_SHAPE = re.compile(r"(?<![\d-])\d{3}-?\d{3}-?\d{4}(?![\d-])")
WORD = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)*")
# Test constants holding secrets that subprocesses get through their environment: any
# `…PASSWORD` / `…SECRET`, and `…KEY` as long as an ENCRYPTION_KEY must be (other `KEY`s
# name things, e.g. a case's idempotency key).
SECRET_CONSTANT = re.compile(r"(?:^|_)(?:PASSWORD|SECRET)$")
KEY_CONSTANT = re.compile(r"(?:^|_)KEY$")
MIN_KEY_CONSTANT = 32


def mask(secret: str) -> str:
    """Enough to recognise a finding, never enough to use it."""
    return f"{secret[:2]}…[{len(secret)} chars]"


@dataclass(frozen=True)
class Finding:
    """One secret or piece of personal data in one log line."""

    kind: str
    test: str
    logger: str
    excerpt: str

    def describe(self) -> str:
        """One line for the terminal."""
        return f"{self.kind} in {self.logger} (test {self.test}): {self.excerpt}"


@dataclass
class Registry:
    """What must never be logged, as known so far."""

    secrets: dict[str, str] = field(default_factory=dict)  # value → kind
    client_names: set[str] = field(default_factory=set)  # "first last", casefolded
    patient_names: set[str] = field(default_factory=set)
    phones: set[str] = field(default_factory=set)  # ten digits
    emails: set[str] = field(default_factory=set)  # lower case
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def secret(self, value: object, kind: str) -> None:
        """Never log this value (ignored when too short to tell from ordinary text)."""
        if isinstance(value, str) and len(value) >= MIN_SECRET_LENGTH:
            with self._lock:
                self.secrets.setdefault(value, kind)

    def client(self, client: Client) -> None:
        """A client's name, phones and e-mail."""
        with self._lock:
            self.client_names.add(f"{client.first_name} {client.last_name}".casefold())
            for phone in (client.mobile_phone, client.home_phone, client.work_phone):
                digits = re.sub(r"\D", "", phone or "")
                if len(digits) == 10:
                    self.phones.add(digits)
            if client.email:
                self.emails.add(client.email.lower())

    def patient(self, patient: Patient) -> None:
        """A patient's name, when long enough to be told from an ordinary word."""
        if len(patient.name) >= MIN_PATIENT_NAME:
            with self._lock:
                self.patient_names.add(patient.name)

    def world(self, world: World) -> None:
        """Every client and patient of a simulated world."""
        for clinic in world.clinics:
            for client in list(clinic.clients.values()):
                self.client(client)
            for patient in list(clinic.patients.values()):
                self.patient(patient)


Span = tuple[int, int, str]  # start, end, kind


def _secret_spans(registry: Registry, line: str) -> Iterator[Span]:
    """Registered secrets, and anything shaped like an API key or a session cookie."""
    for value, kind in list(registry.secrets.items()):
        start = line.find(value)
        while start != -1:
            yield start, start + len(value), kind
            start = line.find(value, start + 1)
    for match in API_KEY_SHAPE.finditer(line):
        yield match.start(), match.end(), "API key (64 hex) or its hash"
    for match in COOKIE_SHAPE.finditer(line):
        yield match.start(), match.end(), "session cookie"


def _contact_spans(registry: Registry, line: str) -> Iterator[Span]:
    """Clients' e-mails and phones (either format)."""
    for match in EMAIL_SHAPE.finditer(line):
        if match.group().lower() in registry.emails:
            yield match.start(), match.end(), "client e-mail"
    for match in PHONE_SHAPE.finditer(line):
        if re.sub(r"\D", "", match.group()) in registry.phones:
            yield match.start(), match.end(), "client phone"


def _name_spans(registry: Registry, line: str) -> Iterator[Span]:
    """Patient names (whole words) and client names (two words, space apart, any case)."""
    words = list(WORD.finditer(line))
    for word in words:
        if word.group() in registry.patient_names:
            yield word.start(), word.end(), "patient name"
    for first, last in itertools.pairwise(words):
        gap = line[first.end() : last.start()]
        pair = f"{first.group()} {last.group()}".casefold()
        if gap.isspace() and pair in registry.client_names:
            yield first.start(), last.end(), "client name"


def _spans(registry: Registry, line: str) -> list[Span]:
    """Everything in the line that must not be there."""
    return [
        *_secret_spans(registry, line),
        *_contact_spans(registry, line),
        *_name_spans(registry, line),
    ]


def _excerpt(line: str, at: tuple[int, int], spans: list[Span]) -> str:
    """The text around a finding with every finding in it masked."""
    start, end = max(0, at[0] - EXCERPT_CONTEXT), min(len(line), at[1] + EXCERPT_CONTEXT)
    pieces, cursor = [], start
    for span_start, span_end, _ in sorted(spans):
        if span_end <= cursor or span_start >= end:
            continue
        pieces.append(line[cursor : max(cursor, span_start)])
        pieces.append(mask(line[span_start:span_end]))
        cursor = max(cursor, span_end)
    pieces.append(line[cursor:end])
    return ("…" if start else "") + "".join(pieces) + ("…" if end < len(line) else "")


def scan_line(registry: Registry, line: str, *, test: str, logger: str) -> list[Finding]:
    """The findings of one line."""
    spans = _spans(registry, line)
    return [
        Finding(kind, test, logger, _excerpt(line, (start, end), spans))
        for start, end, kind in spans
    ]


class CaptureHandler(logging.Handler):
    """Keeps each record as production would write it, until the test's scan."""

    def __init__(self, sink: Callable[[str, str], None]) -> None:
        super().__init__(logging.INFO)
        self.setFormatter(JsonFormatter())
        self.addFilter(ContextFilter())
        self._sink = sink

    def emit(self, record: logging.LogRecord) -> None:
        """Format and keep; a record that cannot be formatted is kept as its raw parts."""
        try:
            text = self.format(record)
        except Exception:  # noqa: BLE001 - the scan must see even a record that breaks
            text = f"{record.msg!r} {record.args!r}"
        self._sink(record.name, text)


class LogScan:
    """The session's capture: pending lines, the registry, the findings."""

    def __init__(self) -> None:
        self.registry = Registry()
        self.findings: list[Finding] = []
        self.lines_scanned = 0
        self._pending: list[tuple[str, str]] = []
        self._files: dict[Path, tuple[str, int]] = {}  # path → (source, bytes read)
        self._lock = threading.Lock()
        self.handler = CaptureHandler(self.keep)

    def keep(self, source: str, text: str) -> None:
        """A log record or a chunk of process output, scanned at the end of the test."""
        with self._lock:
            self._pending.append((source, text))

    def watch(self, path: Path, source: str) -> None:
        """A process's log file, read at the end of each test for as long as it grows."""
        with self._lock:
            self._files.setdefault(path, (source, 0))

    def _read_files(self, *, final: bool) -> list[tuple[str, str]]:
        """What the watched files gained since the last read (whole lines until the end)."""
        read = []
        with self._lock:
            for path, (source, offset) in list(self._files.items()):
                if not path.exists():
                    continue
                with path.open("rb") as file:
                    file.seek(offset)
                    chunk = file.read()
                whole = (
                    chunk if final else chunk[: chunk.rfind(b"\n") + 1]
                )  # a line being written waits
                self._files[path] = (source, offset + len(whole))
                read.append((source, whole.decode(errors="replace")))
        return read

    def scan(self, test: str, *, final: bool = False) -> None:
        """Scan what was captured since the last scan."""
        with self._lock:
            pending, self._pending = self._pending, []
        pending += self._read_files(final=final)
        for source, text in pending:
            for line in text.splitlines():
                self.lines_scanned += 1
                self.findings.extend(scan_line(self.registry, line, test=test, logger=source))
        if DUMP and pending:
            with Path(DUMP).open("a", encoding="utf-8") as dump:
                dump.writelines(f"{test} {source} {text}\n" for source, text in pending)

    def attach(self) -> None:
        """On the root logger, and on each logger that does not propagate to it, at INFO."""
        root = logging.getLogger()
        if self.handler not in root.handlers:
            root.addHandler(self.handler)
        if root.getEffectiveLevel() > logging.INFO:
            root.setLevel(logging.INFO)
        for logger in list(logging.Logger.manager.loggerDict.values()):
            if not isinstance(logger, logging.Logger) or logger.propagate:
                continue
            if self.handler not in logger.handlers:
                logger.addHandler(self.handler)


_scan = LogScan()


def register_secret(value: str, kind: str = "secret") -> None:
    """Tests call this for a secret the hooks below cannot see."""
    _scan.registry.secret(value, kind)


def feed(text: str | None, source: str) -> None:
    """Output of a service process a test started (its logs), for the scan."""
    if text:
        _scan.keep(source, text)


def feed_file(path: Path, source: str) -> None:
    """A log file a service process writes, read and scanned at the end of the test."""
    _scan.watch(path, source)


# --- hooks that learn the secrets as tests make them -----------------------------------------


def _after(cls: type, name: str, learn: Callable[..., None]) -> None:
    """Wrap a method so `learn(self, result, *args, **kwargs)` sees each call."""
    original = getattr(cls, name)

    @functools.wraps(original)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        learn(self, result, *args, **kwargs)
        return result

    setattr(cls, name, wrapper)


def _learn_credentials(credentials: PimsCredentials, *_: object) -> None:
    _scan.registry.secret(credentials.password, "PIMS password")
    if "@" in credentials.username:
        _scan.registry.secret(credentials.username, "PIMS login e-mail")


def _learn_world(world: World, _: None, *args: object, **kwargs: object) -> None:
    for config in (*args, *kwargs.values()):
        if isinstance(config, SimulatorConfig):
            _scan.registry.secret(config.password, "simulator password")
            _scan.registry.secret(config.username, "PIMS login e-mail")
    _scan.registry.world(world)


def _learn_encryption_key(original: Any) -> Any:
    @functools.wraps(original)
    def derive_key(key: str, *args: Any, **kwargs: Any) -> bytes:
        _scan.registry.secret(key, "encryption key")
        return bytes(original(key, *args, **kwargs))

    # Tests look at the cache through these.
    derive_key.cache_info = original.cache_info  # type: ignore[attr-defined]
    derive_key.cache_clear = original.cache_clear  # type: ignore[attr-defined]
    return derive_key


def _learn_webhook_secrets(original: Callable[[], str]) -> Callable[[], str]:
    @functools.wraps(original)
    def new_secret() -> str:
        secret = original()
        register_secret(secret, "webhook secret")
        register_secret(secret.removeprefix(webhook_rules.SECRET_PREFIX), "webhook secret")
        return secret

    return new_secret


def _install_hooks() -> None:
    _after(PimsCredentials, "__post_init__", _learn_credentials)
    _after(World, "__init__", _learn_world)
    _after(World, "add_client", lambda _, client, *__: _scan.registry.client(client))
    _after(World, "change_client", lambda _, client, *__: _scan.registry.client(client))
    _after(World, "add_patient", lambda _, patient, *__: _scan.registry.patient(patient))
    _after(Sessions, "open", lambda _, session, *__: register_secret(session.token, "cookie"))
    # Modules that import it later get the wrapper; the cache stays inside the original.
    crypto.derive_key = _learn_encryption_key(crypto.derive_key)
    # Every endpoint's signing secret, as it is made (the admin imported the function).
    learning = _learn_webhook_secrets(webhook_rules.new_secret)
    webhook_rules.new_secret = learning  # type: ignore[assignment]
    webhook_endpoints.new_secret = learning  # type: ignore[assignment]


_install_hooks()


def _learn_defaults() -> None:
    """What tests' subprocesses use without this process seeing it."""
    default = SimulatorConfig()
    _scan.registry.secret(default.password, "simulator password")
    _scan.registry.secret(default.username, "PIMS login e-mail")
    for index in range(DEFAULT_WORLD_CLINICS):
        clinic = build_clinic(default.seed, index, str(1001 + index))
        for client in clinic.clients.values():
            _scan.registry.client(client)
        for patient in clinic.patients.values():
            _scan.registry.patient(patient)
    for name in ("ENCRYPTION_KEY", "IDEXX_ENCRYPTION_KEY", "ENCRYPTION_KEY_PREVIOUS"):
        register_secret(os.environ.get(name, ""), "encryption key")


def _learn_test_constants(modules: Iterable[str]) -> None:
    """Module constants of the tests named like secrets (`PASSWORD`, `KEY`, …)."""
    for name in modules:
        module = sys.modules.get(name)
        for attribute, value in vars(module).items() if module else ():
            if not isinstance(value, str) or any(char.isspace() for char in value):
                continue
            long_key = KEY_CONSTANT.search(attribute) and len(value) >= MIN_KEY_CONSTANT
            if SECRET_CONSTANT.search(attribute) or long_key:
                register_secret(value, f"test secret {attribute}")


# --- pytest hooks ----------------------------------------------------------------------------


def pytest_sessionstart(session: pytest.Session) -> None:
    """Capture from here on."""
    del session
    _learn_defaults()
    _scan.attach()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(
    item: pytest.Item, nextitem: pytest.Item | None
) -> Generator[None, object, object]:
    """Capture the test's records, scan them, and undo the logging set-up the test made."""
    del nextitem
    root = logging.getLogger()
    _scan.attach()
    handlers, level = list(root.handlers), root.level
    try:
        return (yield)
    finally:
        # A command run in-process (`configure_logging`) leaves a handler on a stream that
        # is closed once the test ends; at INFO the next test's records would reach it.
        for handler in [h for h in root.handlers if h not in handlers]:
            root.removeHandler(handler)
        root.setLevel(level)
        _learn_test_constants(m for m in list(sys.modules) if m.startswith("tests."))
        _scan.scan(item.nodeid)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Generator[None, None, None]:
    """Fixtures may have reconfigured logging (uvicorn does): attach again before the test."""
    del item
    _scan.attach()
    return (yield)


@dataclass
class ScanTotals:
    """What the session's scans found and covered, summed over parallel workers."""

    findings: set[str] = field(default_factory=set)  # masked descriptions
    lines: int = 0
    known: dict[str, int] = field(default_factory=dict)  # largest registry sizes seen

    def add(self, findings: Iterable[str], lines: int, known: dict[str, int]) -> None:
        """Add one process's share."""
        self.findings.update(findings)
        self.lines += lines
        for kind, count in known.items():
            self.known[kind] = max(self.known.get(kind, 0), count)


_totals = ScanTotals()


def _own_share() -> tuple[list[str], int, dict[str, int]]:
    known = _scan.registry
    sizes = {
        "secrets": len(known.secrets),
        "client names": len(known.client_names),
        "phones": len(known.phones),
        "e-mails": len(known.emails),
    }
    return [f.describe() for f in _scan.findings], _scan.lines_scanned, sizes


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """Scan what is left; any finding fails the session (a worker hands its share over)."""
    _scan.scan("(session)", final=True)
    _totals.add(*_own_share())
    workeroutput = getattr(session.config, "workeroutput", None)
    if workeroutput is not None:  # a pytest-xdist worker: the controller judges the run
        workeroutput["log_scan"] = {
            "findings": sorted(_totals.findings),
            "lines": _totals.lines,
            "known": _totals.known,
        }
    if _totals.findings and exitstatus in (
        pytest.ExitCode.OK,
        pytest.ExitCode.NO_TESTS_COLLECTED,
    ):
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: object) -> None:
    """A parallel worker finished: add what its scans found and covered."""
    del error
    share = getattr(node, "workeroutput", {}).get("log_scan")
    if share is not None:
        _totals.add(share["findings"], share["lines"], share["known"])


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """Each finding, masked; or how much was scanned."""
    if not _totals.findings:
        known = ", ".join(f"{count} {kind}" for kind, count in _totals.known.items())
        terminalreporter.write_line(
            f"log scan: {_totals.lines} log lines, no secret or personal data ({known} known)"
        )
        return
    terminalreporter.section("log scan: secrets or personal data in logs", red=True)
    for finding in sorted(_totals.findings):
        terminalreporter.write_line(finding)
    terminalreporter.write_line(f"log scan: {len(_totals.findings)} finding(s): the session fails")
