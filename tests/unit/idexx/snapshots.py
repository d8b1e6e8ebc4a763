"""A tiny snapshot helper: domain objects → JSON files next to the fixtures."""

from __future__ import annotations

import dataclasses
import json
import os
from datetime import datetime
from pathlib import Path

FIXTURES = Path(__file__).parents[2] / "fixtures" / "idexx"


def load_fixture(name: str) -> object:
    return json.loads((FIXTURES / name).read_text())


def _plain(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, tuple | list):
        return [_plain(item) for item in value]
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def assert_snapshot(name: str, value: object) -> None:
    """Compare with `<name>.snapshot.json`; only UPDATE_SNAPSHOTS=1 writes it.

    A missing snapshot fails like a changed one: a test run never writes a tracked file,
    and a snapshot written by the run it checks would prove nothing.
    """
    path = FIXTURES / f"{name}.snapshot.json"
    rendered = json.dumps(_plain(value), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") == "1":
        path.write_text(rendered, encoding="utf-8")
    assert path.exists(), f"snapshot {path.name} is missing (UPDATE_SNAPSHOTS=1 writes it)"
    assert rendered == path.read_text(encoding="utf-8"), (
        f"snapshot {path.name} differs (UPDATE_SNAPSHOTS=1 rewrites it)"
    )
