"""The snapshot helper never writes a snapshot on its own: a missing one fails the test."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.unit.idexx import snapshots


@pytest.fixture
def fixtures(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(snapshots, "FIXTURES", tmp_path)
    monkeypatch.delenv("UPDATE_SNAPSHOTS", raising=False)
    return tmp_path


def test_a_missing_snapshot_fails_and_is_not_written(fixtures: Path) -> None:
    with pytest.raises(AssertionError, match=r"new\.snapshot\.json is missing"):
        snapshots.assert_snapshot("new", {"a": 1})

    assert list(fixtures.iterdir()) == []


def test_update_snapshots_writes_it_and_then_it_is_compared(
    fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("UPDATE_SNAPSHOTS", "1")
    snapshots.assert_snapshot("new", {"a": 1})
    monkeypatch.delenv("UPDATE_SNAPSHOTS")

    snapshots.assert_snapshot("new", {"a": 1})
    with pytest.raises(AssertionError, match=r"new\.snapshot\.json differs"):
        snapshots.assert_snapshot("new", {"a": 2})
    assert (fixtures / "new.snapshot.json").read_text(encoding="utf-8") == '{\n  "a": 1\n}\n'
