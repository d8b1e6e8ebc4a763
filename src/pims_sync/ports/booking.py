"""BookingConfigStore: each clinic's booking rules (the defaults until some are set)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pims_sync.domain.booking import BookingRules


@dataclass(frozen=True, slots=True)
class BookingConfig:
    """A clinic's rules; `updated_at` None: none were set, these are the defaults."""

    clinic_id: UUID
    rules: BookingRules
    updated_at: datetime | None = None

    @property
    def is_default(self) -> bool:
        """Whether the clinic has no rules of its own."""
        return self.updated_at is None


class BookingConfigStore(Protocol):
    """Booking rules by clinic; every method is scoped by `clinic_id`."""

    async def get(self, clinic_id: UUID) -> BookingConfig:
        """The clinic's rules, or the defaults when it has none."""
        ...

    async def put(self, clinic_id: UUID, rules: BookingRules, *, at: datetime) -> BookingConfig:
        """Replace the clinic's rules (one row per clinic)."""
        ...
