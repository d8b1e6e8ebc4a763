"""Log lines: JSON in production with the run context, plain text otherwise."""

from __future__ import annotations

import json
import logging

from pims_sync.logs import ContextFilter, JsonFormatter, PlainFormatter, log_context


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
