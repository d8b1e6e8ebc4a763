"""Logging set-up: JSON lines in production, plain text otherwise, with run context.

`log_context(clinic_id=..., sync_id=..., phase=...)` puts those fields on every
record logged inside it (contextvars, so it follows asyncio tasks); a record's own
`extra={...}` wins over the context. Every `extra` field is written too: as a JSON
field, or `name=value` after a plain line. What a database server quotes of the data it
refused (Postgres `DETAIL:` / `CONTEXT:` lines) is left out of messages and tracebacks.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import sys
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from types import MappingProxyType

CONTEXT_FIELDS = ("clinic_id", "sync_id", "phase")
LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
PLAIN_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
# Libraries whose debug lines would bury ours (aiosqlite: every statement; httpcore: every
# socket step, and the PIMS's response headers, cookies included): info and up only.
CHATTY_LIBRARIES = ("aiosqlite", "asyncio", "httpcore")
# What every record has; anything else on a record came from `extra=` (uvicorn's
# `color_message` repeats the message with terminal colours, so it is left out too).
_BLANK_RECORD = logging.LogRecord("", logging.INFO, "", 0, "", (), None)
_STANDARD_ATTRIBUTES = frozenset(vars(_BLANK_RECORD)) | {
    "message",
    "asctime",
    "color_message",
    "taskName",
}

# Postgres's error fields that quote the data they choke on (`DETAIL:  Failing row
# contains (…)`, `CONTEXT:  JSON data, line 1: …`): a patient's or a client's, in a sync.
_DATA_QUOTING_FIELDS = re.compile(r"^([ \t]*)(DETAIL|CONTEXT):.*$", re.MULTILINE)
# …and its messages that quote a value it could not read (`invalid input syntax for type
# integer: "408-555-0142"`, `… out of range: "…"`).
_QUOTED_INPUT = re.compile(r"((?:invalid input (?:syntax|value)|out of range)[^:\n]*: )\"[^\n]*\"")

_context: contextvars.ContextVar[Mapping[str, str]] = contextvars.ContextVar(
    "pims_sync_log_context", default=MappingProxyType({})
)


@contextmanager
def log_context(**fields: object) -> Iterator[None]:
    """Add `clinic_id`, `sync_id`, `phase` (or other fields) to every record inside."""
    merged = {**_context.get(), **{k: str(v) for k, v in fields.items() if v is not None}}
    token = _context.set(merged)
    try:
        yield
    finally:
        _context.reset(token)


class ContextFilter(logging.Filter):
    """Copy the current log context onto each record (without overriding `extra`)."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Attach the context fields; never drops a record."""
        for name, value in _context.get().items():
            if not hasattr(record, name):
                setattr(record, name, value)
        return True


def _context_of(record: logging.LogRecord) -> dict[str, str]:
    values = {name: getattr(record, name, None) for name in CONTEXT_FIELDS}
    return {name: str(value) for name, value in values.items() if value is not None}


def _extras_of(record: logging.LogRecord) -> dict[str, object]:
    """The record's `extra={...}` fields (not the context ones): they are part of the line."""
    return {
        name: value
        for name, value in vars(record).items()
        if name not in _STANDARD_ATTRIBUTES and name not in CONTEXT_FIELDS
    }


def without_row_data(text: str) -> str:
    """The text minus a database server's error fields that quote the failing data."""
    text = _DATA_QUOTING_FIELDS.sub(r"\1\2: (hidden: it may quote row data)", text)
    return _QUOTED_INPUT.sub(r'\1"(hidden)"', text)


class JsonFormatter(logging.Formatter):
    """One JSON object per line: timestamp, level, logger, message, context, exception."""

    def format(self, record: logging.LogRecord) -> str:
        """Render the record as a JSON line."""
        payload: dict[str, object] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": without_row_data(record.getMessage()),
            **_context_of(record),
        }
        for name, value in _extras_of(record).items():
            payload.setdefault(name, value)  # never over the fields above
        if record.exc_info:
            payload["exception"] = without_row_data(self.formatException(record.exc_info))
        if record.stack_info:
            payload["stack"] = self.formatStack(record.stack_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class PlainFormatter(logging.Formatter):
    """Readable lines for a terminal, with the context fields appended."""

    def __init__(self) -> None:
        super().__init__(PLAIN_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        """Render the record, then ` [clinic_id=… sync_id=… extra=…]` when it has fields."""
        text = without_row_data(super().format(record))
        context = {**_context_of(record), **_extras_of(record)}
        if not context:
            return text
        fields = " ".join(f"{name}={value}" for name, value in context.items())
        first, newline, rest = text.partition("\n")
        return f"{first} [{fields}]{newline}{rest}"


def configure_logging(level: str = "info", *, json_lines: bool = False) -> None:
    """Send every logger (ours, uvicorn's) to stderr in one format, at `level`."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if json_lines else PlainFormatter())
    handler.addFilter(ContextFilter())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(LEVELS.get(level.lower(), logging.INFO))
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        named = logging.getLogger(name)
        named.handlers.clear()
        named.propagate = True
    # httpx logs every request's full URL at INFO: one line per PIMS request, query
    # strings included (a search would carry a name). Our own lines summarise the PIMS.
    quiet = root.level > logging.DEBUG
    logging.getLogger("httpx").setLevel(logging.WARNING if quiet else logging.NOTSET)
    for name in CHATTY_LIBRARIES:
        logging.getLogger(name).setLevel(logging.INFO)
