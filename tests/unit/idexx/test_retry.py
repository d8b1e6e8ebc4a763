"""RetryPolicy decisions (pure) and the retry loop (no real sleeping)."""

from __future__ import annotations

import pytest

from pims_sync.domain.retry import RetryPolicy, call_with_retry
from pims_sync.errors import (
    PimsAuthError,
    PimsNotFoundError,
    PimsSessionExpiredError,
    PimsUnavailableError,
)

POLICY = RetryPolicy(max_attempts=4, base_delay=1.0, max_delay=5.0, random_fraction=lambda: 0.5)


def test_backoff_doubles_with_jitter_and_is_capped() -> None:
    error = PimsUnavailableError(status=503)
    delays = [POLICY.next_delay(attempt, error) for attempt in (1, 2, 3)]
    assert delays == [1.15, 2.3, 4.6]
    assert (
        RetryPolicy(base_delay=4.0, max_delay=5.0, random_fraction=lambda: 1).next_delay(2, error)
        == 5.0
    )


def test_gives_up_after_max_attempts() -> None:
    assert POLICY.next_delay(4, PimsUnavailableError()) is None


def test_retry_after_is_honoured_up_to_its_cap() -> None:
    assert POLICY.next_delay(1, PimsUnavailableError(status=429, retry_after=3)) == 3.0
    assert POLICY.next_delay(1, PimsUnavailableError(status=429, retry_after=999)) == 60.0
    assert POLICY.next_delay(1, PimsUnavailableError(status=429, retry_after=0.1)) == 1.15


@pytest.mark.parametrize(
    "error",
    [PimsAuthError("bad"), PimsNotFoundError(), PimsSessionExpiredError(), ValueError("bug")],
)
def test_never_retries_what_waiting_cannot_fix(error: Exception) -> None:
    assert POLICY.next_delay(1, error) is None


async def test_call_with_retry_retries_then_succeeds() -> None:
    outcomes: list[object] = [PimsUnavailableError(status=500), PimsUnavailableError(status=429)]
    slept: list[float] = []

    async def operation() -> str:
        if outcomes:
            error = outcomes.pop(0)
            assert isinstance(error, Exception)
            raise error
        return "ok"

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    assert await call_with_retry(POLICY, operation, sleep=sleep) == "ok"
    assert slept == [1.15, 2.3]


async def test_call_with_retry_reraises_the_last_error() -> None:
    async def operation() -> None:
        raise PimsUnavailableError(status=500)

    async def sleep(seconds: float) -> None:
        return None

    with pytest.raises(PimsUnavailableError):
        await call_with_retry(POLICY, operation, sleep=sleep)
