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
    """Compare with `<name>.snapshot.json`; UPDATE_SNAPSHOTS=1 (re)writes it."""
    path = FIXTURES / f"{name}.snapshot.json"
    rendered = json.dumps(_plain(value), indent=2, ensure_ascii=False, sort_keys=True) + "\n"
    if os.environ.get("UPDATE_SNAPSHOTS") or not path.exists():
        path.write_text(rendered)
    assert rendered == path.read_text(), f"snapshot {path.name} differs (UPDATE_SNAPSHOTS=1)"
