"""A failed run's error code in plain words; every word list entry is a real error code."""

from __future__ import annotations

import inspect

from pims_sync import errors
from pims_sync.api.dashboard.plain import PLAIN, in_plain_words


def test_every_explained_code_is_an_error_code() -> None:
    codes = {
        cls.code
        for _, cls in inspect.getmembers(errors, inspect.isclass)
        if isinstance(getattr(cls, "code", None), str)
    }
    assert set(PLAIN) <= codes, sorted(set(PLAIN) - codes)


def test_a_known_code_is_explained_and_anything_else_is_not() -> None:
    assert "could not be reached" in (in_plain_words({"code": "pims_unavailable"}) or "")
    assert in_plain_words({"code": "something_new"}) is None
    assert in_plain_words(None) is None
    assert in_plain_words({"code": 3}) is None
