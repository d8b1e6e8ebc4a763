"""The per-clinic limiter: concurrency cap and smooth rate."""

from __future__ import annotations

import asyncio
import time

import pytest

from pims_sync.adapters.idexx.ratelimit import RateLimiter


async def test_rate_spaces_request_starts() -> None:
    limiter = RateLimiter(concurrency=10, rate=50)
    starts: list[float] = []

    async def request() -> None:
        async with limiter.slot():
            starts.append(time.monotonic())

    await asyncio.gather(*(request() for _ in range(11)))
    assert starts[-1] - starts[0] == pytest.approx(0.2, abs=0.03)


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
    limiter = RateLimiter(concurrency=10, rate=10, burst=5)
    started = time.monotonic()
    for _ in range(5):
        async with limiter.slot():
            pass
    assert time.monotonic() - started < 0.05


def test_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="concurrency"):
        RateLimiter(concurrency=0, rate=1)
