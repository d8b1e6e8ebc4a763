"""Log lines: JSON in production with the run context, plain text otherwise."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from pims_sync.logs import (
    CHATTY_LIBRARIES,
    ContextFilter,
    JsonFormatter,
    PlainFormatter,
    configure_logging,
    log_context,
)
from pims_sync.settings import load_settings


def record(message: str, **extra: object) -> logging.LogRecord:
    made = logging.LogRecord("pims_sync.sync", logging.INFO, __file__, 1, message, (), None)
    for name, value in extra.items():
        setattr(made, name, value)
    ContextFilter().filter(made)
    return made


def test_json_line_has_the_fields_and_the_context() -> None:
    with log_context(clinic_id="c-1", sync_id="s-1"), log_context(phase="inbound"):
        line = JsonFormatter().format(record("phase started"))
    payload = json.loads(line)
    assert payload["level"] == "info"
    assert payload["logger"] == "pims_sync.sync"
    assert payload["message"] == "phase started"
    assert (payload["clinic_id"], payload["sync_id"], payload["phase"]) == ("c-1", "s-1", "inbound")
    assert payload["timestamp"].endswith("+00:00")


def test_extra_wins_and_context_ends_with_the_block() -> None:
    with log_context(clinic_id="c-1"):
        inside = json.loads(JsonFormatter().format(record("x", clinic_id="c-2")))
    outside = json.loads(JsonFormatter().format(record("y")))
    assert inside["clinic_id"] == "c-2"
    assert "clinic_id" not in outside


def test_plain_line_appends_the_context() -> None:
    with log_context(sync_id="s-9"):
        line = PlainFormatter().format(record("done"))
    assert line.endswith("pims_sync.sync: done [sync_id=s-9]")


def test_extra_fields_are_written_in_both_formats() -> None:
    made = record("pims request retried", endpoint="calendar", attempt=2, level="x")
    payload = json.loads(JsonFormatter().format(made))
    assert (payload["endpoint"], payload["attempt"], payload["level"]) == ("calendar", 2, "info")
    assert PlainFormatter().format(made).endswith("retried [endpoint=calendar attempt=2 level=x]")


@pytest.fixture
def _root_logging_restored() -> Iterator[None]:
    """configure_logging replaces the root's handlers: put the test run's back after."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    for handler in list(root.handlers):
        root.removeHandler(handler)
    for handler in handlers:
        root.addHandler(handler)
    root.setLevel(level)
    for name in ("httpx", *CHATTY_LIBRARIES):
        logging.getLogger(name).setLevel(logging.NOTSET)


@pytest.mark.usefixtures("_root_logging_restored")
def test_request_urls_of_httpx_are_logged_only_at_debug() -> None:
    configure_logging("info")
    assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
    assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    configure_logging("debug")
    assert logging.getLogger("httpx").isEnabledFor(logging.INFO)


@pytest.mark.usefixtures("_root_logging_restored")
def test_debug_is_ours_not_the_libraries_chatter() -> None:
    configure_logging("debug")
    assert logging.getLogger("pims_sync.adapters.idexx.api").isEnabledFor(logging.DEBUG)
    for name in ("aiosqlite", "httpcore.http11", "asyncio"):
        assert not logging.getLogger(name).isEnabledFor(logging.DEBUG), name
        assert logging.getLogger(name).isEnabledFor(logging.INFO), name


@pytest.mark.usefixtures("_root_logging_restored")
@pytest.mark.parametrize(
    ("environment", "log_level", "debug_written"),
    [("development", None, True), ("development", "info", False), ("production", None, False)],
)
def test_node_env_development_writes_debug_lines(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
    environment: str,
    log_level: str | None,
    debug_written: bool,
) -> None:
    """As `serve` and `worker` set logging up: NODE_ENV=development alone turns on debug."""
    monkeypatch.chdir(tmp_path)  # no stray .env
    for name in ("ENVIRONMENT", "LOG_LEVEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NODE_ENV", environment)
    if log_level is not None:
        monkeypatch.setenv("LOG_LEVEL", log_level)
    settings = load_settings()
    configure_logging(settings.log_level, json_lines=settings.environment == "production")
    logging.getLogger("pims_sync.sync").debug("phase planned")
    logging.getLogger("pims_sync.sync").warning("phase slow")
    written = capsys.readouterr().err
    assert "phase slow" in written
    assert ("phase planned" in written) is debug_written
