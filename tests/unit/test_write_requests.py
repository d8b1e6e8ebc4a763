"""The exactly-once state machine: what a repeat of a key meets in each state."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from pims_sync.domain.write_requests import (
    Repeat,
    WriteRequest,
    WriteRoute,
    WriteState,
    after_read_back,
    body_hash,
    check_key,
    on_repeat,
)
from pims_sync.errors import (
    IdempotencyKeyInvalidError,
    IdempotencyKeyReusedError,
    WriteInProgressError,
)

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
BODY = {"patientId": "48290", "date": "2026-06-02", "startTime": "09:00", "reason": "Exam"}
DIGEST = body_hash(WriteRoute.CREATE, BODY)


def stored(state: WriteState, *, lease: timedelta | None = None, **result: Any) -> WriteRequest:
    return WriteRequest(
        clinic_id=UUID(int=1),
        key="k-1",
        route=WriteRoute.CREATE,
        body_hash=DIGEST,
        state=state,
        attempt=1,
        created_at=T0,
        updated_at=T0,
        lease_until=None if lease is None else T0 + lease,
        result=result,
    )


def repeat(request: WriteRequest, *, at: datetime = T0) -> Repeat:
    return on_repeat(request, route=WriteRoute.CREATE, digest=DIGEST, now=at)


def test_the_body_hash_ignores_key_order_and_spacing_but_not_values_or_route() -> None:
    assert body_hash(WriteRoute.CREATE, dict(reversed(list(BODY.items())))) == DIGEST
    assert body_hash(WriteRoute.CREATE, BODY | {"startTime": "09:15"}) != DIGEST
    assert body_hash(WriteRoute.RESCHEDULE, BODY) != DIGEST


def test_a_succeeded_request_is_replayed() -> None:
    assert repeat(stored(WriteState.SUCCEEDED, appointment={"id": "9"})) is Repeat.REPLAY


def test_a_final_failure_is_replayed_a_retryable_one_resumed() -> None:
    assert repeat(stored(WriteState.FAILED, code="slot_unavailable")) is Repeat.REPLAY
    assert repeat(stored(WriteState.FAILED, retry=True)) is Repeat.RESUME


def test_a_pending_request_within_its_lease_is_in_progress() -> None:
    with pytest.raises(WriteInProgressError, match="still in progress"):
        repeat(stored(WriteState.PENDING, lease=timedelta(seconds=120)), at=T0)


def test_a_pending_request_past_its_lease_crashed_and_is_resumed() -> None:
    request = stored(WriteState.PENDING, lease=timedelta(seconds=120))
    assert repeat(request, at=T0 + timedelta(seconds=120)) is Repeat.RESUME


def test_an_unknown_request_is_resumed_by_reading_back() -> None:
    assert repeat(stored(WriteState.UNKNOWN, phase="sent")) is Repeat.RESUME


def test_an_unfinished_reschedule_is_resumed_to_finish_the_cancel() -> None:
    request = replace(stored(WriteState.SUCCEEDED, unfinished=True), route=WriteRoute.RESCHEDULE)
    digest = request.body_hash
    assert on_repeat(request, route=WriteRoute.RESCHEDULE, digest=digest, now=T0) is Repeat.RESUME


@pytest.mark.parametrize("state", list(WriteState))
def test_another_body_or_route_with_the_key_is_refused_in_every_state(state: WriteState) -> None:
    request = stored(state, lease=timedelta(seconds=120))
    other = body_hash(WriteRoute.CREATE, BODY | {"reason": "Vaccines"})
    with pytest.raises(IdempotencyKeyReusedError, match="another create request body"):
        on_repeat(request, route=WriteRoute.CREATE, digest=other, now=T0)
    with pytest.raises(IdempotencyKeyReusedError):
        on_repeat(request, route=WriteRoute.CANCEL, digest=DIGEST, now=T0)


def test_a_read_back_decides_succeeded_failed_or_unknown() -> None:
    assert after_read_back(True) is WriteState.SUCCEEDED
    assert after_read_back(False) is WriteState.FAILED
    assert after_read_back(None) is WriteState.UNKNOWN


@pytest.mark.parametrize("key", ["", "has space", "x" * 256, "naïve", "auto:123"])
def test_keys_that_cannot_be_one_are_refused(key: str) -> None:
    with pytest.raises(IdempotencyKeyInvalidError):
        check_key(key)


def test_usual_keys_are_taken_as_they_are() -> None:
    for key in ("9f1c2d4e-0b7a-4c41-9d3e-2a6f0c8b1e55", "01HZX3", "x" * 255):
        assert check_key(key) == key
