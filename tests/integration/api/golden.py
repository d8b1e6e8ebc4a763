"""Golden files of API answers: what varies between runs is normalised, the rest compared.

A golden file (`tests/golden/<name>.json`) holds one answer: its status, media type and
body, with ids numbered by first appearance (`<uuid:1>`, so that two fields naming the
same run still say so), instants and days reduced to their format
(`NNNN-NN-NNTNN:NN:NN.NNNZ`), and measured or random values (durations, memory, uptime,
key prefixes) reduced to their JSON type. Key order is kept, but for stored documents (a
run's `result`): Postgres's JSONB keeps keys in its own order, so theirs are sorted.
A missing or different file fails the test; `UPDATE_SNAPSHOTS=1` writes it.
"""

from __future__ import annotations

import difflib
import json
import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest

GOLDEN_DIR = Path(__file__).resolve().parents[2] / "golden"
UPDATE_ENV = "UPDATE_SNAPSHOTS"

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
INSTANT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})?")
DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# Documents read back from the database, whose key order is the database's (a run's
# result, an event's payload).
STORED = frozenset({"result", "payload"})
MEBIBYTES = re.compile(r"\d+MB")
# Measured or random, never the same twice: only their JSON type is kept.
VOLATILE = frozenset(
    {
        "durationMs",
        "uptime",
        "uptime_seconds",
        "rss",
        "heapUsed",
        "heapTotal",
        "version",
        "prefix",
        "ageSeconds",
        "seconds",
    }
)


class Normaliser:
    """Turns one answer's volatile values into stable placeholders."""

    def __init__(self) -> None:
        self.ids: dict[str, str] = {}

    def _id(self, match: re.Match[str]) -> str:
        found = match.group(0)
        return self.ids.setdefault(found, f"<uuid:{len(self.ids) + 1}>")

    def text(self, value: str) -> str:
        """A string with its ids numbered and its instants and days as their format."""
        value = UUID.sub(self._id, value)
        value = INSTANT.sub(lambda m: re.sub(r"\d", "N", m.group(0)), value)
        value = DAY.sub("NNNN-NN-NN", value)
        return MEBIBYTES.sub("<n>MB", value)

    def value(self, value: Any, key: str | None = None, *, stored: bool = False) -> Any:
        """Any JSON value, normalised (volatile keys by type, strings by text)."""
        if key in VOLATILE and value is not None:
            return f"<{type(value).__name__}>"
        stored = stored or key in STORED
        if isinstance(value, dict):
            items = sorted(value.items()) if stored else value.items()
            return {k: self.value(v, k, stored=stored) for k, v in items}
        if isinstance(value, list):
            return [self.value(item, stored=stored) for item in value]
        if isinstance(value, str):
            return self.text(value)
        return value


def record(response: httpx.Response, body: Any = None) -> dict[str, Any]:
    """What a golden file keeps of an answer (its JSON body unless `body` is given)."""
    media = response.headers.get("content-type", "").split(";")[0]
    return {
        "status": response.status_code,
        "contentType": media,
        "body": response.json() if body is None else body,
    }


def golden(name: str, answer: httpx.Response | dict[str, Any]) -> None:
    """Compare the answer with `tests/golden/<name>.json` (write it with UPDATE_SNAPSHOTS=1)."""
    shown = record(answer) if isinstance(answer, httpx.Response) else answer
    text = json.dumps(Normaliser().value(shown), indent=2, ensure_ascii=False) + "\n"
    path = GOLDEN_DIR / f"{name}.json"
    if os.environ.get(UPDATE_ENV) == "1":
        GOLDEN_DIR.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        return
    if not path.exists():
        pytest.fail(f"no golden file {path.name}: run with {UPDATE_ENV}=1 to write it")
    expected = path.read_text(encoding="utf-8")
    if text != expected:
        diff = difflib.unified_diff(
            expected.splitlines(), text.splitlines(), "golden", "answer", lineterm=""
        )
        pytest.fail(f"{name} differs from its golden file:\n" + "\n".join(diff))
