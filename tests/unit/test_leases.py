"""Leased: per-key values kept only while held (the eviction rule for per-clinic state)."""

from __future__ import annotations

import pytest

from pims_sync.domain.leases import Leased


def test_holders_of_one_key_share_a_value_dropped_with_the_last() -> None:
    made: list[object] = []
    leased: Leased[str, object] = Leased(lambda: made.append(object()) or made[-1])
    with leased.hold("a") as first, leased.hold("a") as second, leased.hold("b") as other:
        assert first is second
        assert other is not first
        assert len(leased) == 2
    assert len(leased) == 0
    with leased.hold("a") as again:
        assert again is not first  # made anew: nothing was cached
    assert len(made) == 3


def test_a_failing_holder_lets_go_too() -> None:
    leased: Leased[int, list[int]] = Leased(list)
    with pytest.raises(RuntimeError), leased.hold(1):
        raise RuntimeError("boom")
    assert len(leased) == 0
