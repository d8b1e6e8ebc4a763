"""The per-clinic limiter: concurrency cap and smooth rate."""

from __future__ import annotations

import asyncio

import pytest

from pims_sync.adapters.idexx.ratelimit import RateLimiter


class FrozenTime:
    """A clock that never moves; each wait the limiter asks for is recorded instead."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def clock(self) -> float:
        return 0.0

    async def sleep(self, seconds: float) -> None:
        self.waits.append(round(seconds, 9))


async def test_rate_spaces_request_starts() -> None:
    time = FrozenTime()
    limiter = RateLimiter(concurrency=10, rate=50, clock=time.clock, sleep=time.sleep)

    async def request() -> None:
        async with limiter.slot():
            pass

    await asyncio.gather(*(request() for _ in range(11)))
    # The first starts at once, the others 20 ms apart, in the order they asked.
    assert time.waits == [round(0.02 * n, 9) for n in range(1, 11)]


async def test_concurrency_is_capped() -> None:
    limiter = RateLimiter(concurrency=3, rate=1000)
    in_flight = peak = 0

    async def request() -> None:
        nonlocal in_flight, peak
        async with limiter.slot():
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.01)
            in_flight -= 1

    await asyncio.gather(*(request() for _ in range(12)))
    assert peak == 3


async def test_burst_lets_the_first_requests_through_at_once() -> None:
    time = FrozenTime()
    limiter = RateLimiter(concurrency=10, rate=10, burst=5, clock=time.clock, sleep=time.sleep)
    for _ in range(6):
        async with limiter.slot():
            pass
    assert time.waits == [0.1]  # five at once, the sixth one interval later


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        RateLimiter(concurrency=0, rate=1)
