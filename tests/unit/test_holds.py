"""Holds, pure: their state over time, and the bounds of what a caller may ask."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from pims_sync.domain.holds import Hold, HoldState, check_reference, check_ttl
from pims_sync.errors import InvalidInputError

NOW = datetime(2026, 6, 10, 15, tzinfo=UTC)


def hold(released_at: datetime | None = None) -> Hold:
    start = NOW + timedelta(hours=2)
    return Hold(
        id=uuid4(),
        clinic_id=uuid4(),
        resource_id="7",
        start=start,
        end=start + timedelta(minutes=30),
        busy_from=start,
        busy_until=start + timedelta(minutes=35),
        expires_at=NOW + timedelta(minutes=5),
        created_at=NOW,
        released_at=released_at,
    )


def test_live_until_it_expires_then_expired_at_once() -> None:
    assert hold().state(NOW + timedelta(minutes=4, seconds=59)) is HoldState.LIVE
    assert hold().state(NOW + timedelta(minutes=5)) is HoldState.EXPIRED


def test_released_before_expiry_is_released_and_ended_at_expiry_is_expired() -> None:
    assert hold(NOW + timedelta(minutes=1)).state(NOW + timedelta(minutes=2)) is HoldState.RELEASED
    # Marked ended at its expiry to make room for another hold: it expired.
    assert hold(NOW + timedelta(minutes=5)).state(NOW + timedelta(minutes=6)) is HoldState.EXPIRED


def test_bounds_of_ttl_and_reference() -> None:
    assert check_ttl(30) == timedelta(seconds=30)
    assert check_ttl(900) == timedelta(minutes=15)
    for bad in (29, 901, 0):
        with pytest.raises(InvalidInputError, match="from 30 to 900"):
            check_ttl(bad)
    assert check_reference(None) is None
    assert check_reference("call 42 · Bella") == "call 42 · Bella"
    for bad in ("", "   ", "x" * 201, "line\nbreak", "nul\x00"):
        with pytest.raises(InvalidInputError, match="1 to 200 printable characters"):
            check_reference(bad)
