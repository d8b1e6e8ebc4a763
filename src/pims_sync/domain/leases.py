"""Per-key values that live only while someone holds them (no per-clinic cache grows)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Leased(Generic[K, V]):
    """One value per key, made on the first hold and dropped when the last holder lets go.

    The eviction rule for per-clinic state (a rate limiter, a lock): the map holds only
    the keys in use right now, so a process that serves thousands of clinics over a day
    keeps as many entries as it has clinics busy at once.
    """

    def __init__(self, make: Callable[[], V]) -> None:
        self._make = make
        self._held: dict[K, tuple[V, int]] = {}

    def __len__(self) -> int:
        return len(self._held)

    @contextmanager
    def hold(self, key: K) -> Iterator[V]:
        """The key's value for the block (the same one for every concurrent holder)."""
        value, holders = self._held.get(key) or (self._make(), 0)
        self._held[key] = (value, holders + 1)
        try:
            yield value
        finally:
            value, holders = self._held[key]
            if holders == 1:
                del self._held[key]
            else:
                self._held[key] = (value, holders - 1)
