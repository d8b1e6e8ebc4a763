"""RetryPolicy: which failures to retry and how long to wait; a pure decision.

It lives in `domain` (not `sync`) because both the pipeline and the adapters use it,
and the layer contract keeps `sync` and `adapters` independent of each other.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from pims_sync.errors import PimsSessionExpiredError, RetriableError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff with jitter, capped; honours a server's Retry-After."""

    max_attempts: int = 4
    base_delay: float = 0.5
    max_delay: float = 10.0
    jitter: float = 0.3
    max_retry_after: float = 60.0
    retry_on: tuple[type[BaseException], ...] = (RetriableError,)
    # Session expiry is repaired by logging in again, not by waiting.
    never_retry: tuple[type[BaseException], ...] = (PimsSessionExpiredError,)
    random_fraction: Callable[[], float] = field(default=random.random, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        if self.base_delay < 0 or self.max_delay < self.base_delay:
            raise ValueError("need 0 <= base_delay <= max_delay")

    def is_retriable(self, error: BaseException) -> bool:
        """Whether this kind of failure may succeed if tried again."""
        return isinstance(error, self.retry_on) and not isinstance(error, self.never_retry)

    def next_delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait before attempt `attempt + 1`, or None to give up."""
        if attempt >= self.max_attempts or not self.is_retriable(error):
            return None
        backoff = self.base_delay * 2.0 ** (attempt - 1)
        backoff += backoff * self.jitter * self.random_fraction()
        backoff = min(backoff, self.max_delay)
        retry_after: object = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float) and retry_after > 0:
            return max(backoff, min(float(retry_after), self.max_retry_after))
        return backoff


async def call_with_retry(
    policy: RetryPolicy,
    operation: Callable[[], Awaitable[T]],
    *,
    on_retry: Callable[[int, BaseException, float], None] | None = None,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> T:
    """Run `operation` until it succeeds or the policy gives up (re-raising the last error)."""
    attempt = 1
    while True:
        try:
            return await operation()
        except Exception as error:
            delay = policy.next_delay(attempt, error)
            if delay is None:
                raise
            if on_retry is not None:
                on_retry(attempt, error, delay)
            await sleep(delay)
            attempt += 1
