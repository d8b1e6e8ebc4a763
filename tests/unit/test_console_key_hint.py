"""The console's word on a refused key: what a key looks like, never the key itself."""

from __future__ import annotations

import pytest

from pims_sync.cli.console.client import KEY_ENV, key_hint

REAL_SHAPE = "a7043d16b0d21811e4253e338f292dcc2d0d71d31a3e57311d186b13bd6bf626"


def test_a_key_of_the_real_shape_gets_no_hint() -> None:
    assert key_hint(REAL_SHAPE) == ""


@pytest.mark.parametrize(
    ("key", "length"),
    [("a7043d16", 8), ("psk_live_123", 12), (REAL_SHAPE.upper(), 64), (REAL_SHAPE + "\n", 65)],
)
def test_another_shape_is_named_by_its_length(key: str, length: int) -> None:
    hint = key_hint(key)
    assert "64 hex characters `pims-sync keys create` printed" in hint
    assert f"this one has {length} characters" in hint
    assert key.strip() not in hint


def test_no_key_says_where_to_give_one() -> None:
    assert f"--api-key or {KEY_ENV}" in key_hint(None)
    assert key_hint("") == key_hint(None)
