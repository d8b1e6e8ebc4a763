"""An in-memory RequestLedger, for fast tests."""

from __future__ import annotations

from collections import Counter
from datetime import date
from uuid import UUID


class MemoryRequestLedger:
    """Requests per (clinic, day) in a Counter."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[UUID, date]] = Counter()

    async def used(self, clinic_id: UUID, day: date) -> int:
        """The clinic's requests recorded for that day."""
        return self.counts[(clinic_id, day)]

    async def add(self, clinic_id: UUID, day: date, requests: int) -> None:
        """Add requests to the clinic's day."""
        self.counts[(clinic_id, day)] += requests
