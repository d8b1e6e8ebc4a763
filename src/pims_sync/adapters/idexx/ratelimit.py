"""Per-clinic pacing towards the PIMS: a concurrency cap plus a smooth rate limit.

It sits in the adapter because only the transport knows when a request really
leaves; the pipeline just calls the session as fast as it likes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager


class RateLimiter:
    """At most `concurrency` requests in flight and `rate` starts per second (GCRA)."""

    def __init__(
        self,
        *,
        concurrency: int,
        rate: float,
        burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        if concurrency < 1 or rate <= 0 or burst < 1:
            raise ValueError("need concurrency >= 1, rate > 0, burst >= 1")
        self._slots = asyncio.Semaphore(concurrency)
        self._interval = 1.0 / rate
        self._tolerance = (burst - 1) * self._interval
        self._clock, self._sleep = clock, sleep
        self._next_start = clock()
        self._lock = asyncio.Lock()

    async def _wait_turn(self) -> None:
        # Reserve a start time under the lock, sleep outside it: waiters queue in order.
        async with self._lock:
            now = self._clock()
            start = max(now, self._next_start - self._tolerance)
            self._next_start = max(self._next_start, now) + self._interval
        delay = start - self._clock()
        if delay > 0:
            await self._sleep(delay)

    @asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        """Hold one concurrency slot, started no earlier than the rate allows."""
        async with self._slots:
            await self._wait_turn()
            yield
