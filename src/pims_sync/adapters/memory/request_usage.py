"""An in-memory RequestLedger and LoginLedger, for fast tests."""

from __future__ import annotations

from collections import Counter
from datetime import date
from uuid import UUID


class MemoryRequestLedger:
    """Requests and logins per (clinic, day) in Counters."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[UUID, date]] = Counter()
        self.login_counts: Counter[tuple[UUID, date]] = Counter()

    async def used(self, clinic_id: UUID, day: date) -> int:
        """The clinic's requests recorded for that day."""
        return self.counts[(clinic_id, day)]

    async def add(self, clinic_id: UUID, day: date, requests: int) -> None:
        """Add requests to the clinic's day."""
        self.counts[(clinic_id, day)] += requests

    async def take_login(self, clinic_id: UUID, day: date, limit: int) -> bool:
        """Count one login if fewer than `limit` are counted for that day."""
        if self.login_counts[(clinic_id, day)] >= limit:
            return False
        self.login_counts[(clinic_id, day)] += 1
        return True

    async def logins(self, clinic_id: UUID, day: date) -> int:
        """The clinic's logins counted for that day."""
        return self.login_counts[(clinic_id, day)]
