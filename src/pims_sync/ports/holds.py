"""HoldStore: short holds on free slots; two live holds of one column never overlap."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pims_sync.domain.availability import HeldTime, Schedule
from pims_sync.domain.holds import Hold, NewHold

# Given the mirror's live entries and the live holds around a hold, the columns it may
# take, best first (domain/availability.py: `free_at`).
Fits = Callable[[Schedule], Sequence[str]]


class HoldStore(Protocol):
    """Holds by clinic; every method is scoped by `clinic_id`."""

    async def place(
        self,
        *,
        clinic_id: UUID,
        hold: NewHold,
        window: tuple[datetime, datetime],
        fits: Fits,
        now: datetime,
    ) -> Hold | None:
        """Store the hold on the first column `fits` gives that is still free; None if none.

        One decision against one state: the mirror's live entries and the live holds over
        `window` are read, `fits` is asked, and the hold is stored, with no other hold of
        the column able to slip in between (an exclusion constraint on Postgres, one write
        transaction on SQLite). Expired holds in the way are marked ended first.
        """
        ...

    async def live_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime, now: datetime
    ) -> list[HeldTime]:
        """The time live holds keep over [start, end) (expired ones never count)."""
        ...

    async def get(self, *, clinic_id: UUID, hold_id: UUID) -> Hold | None:
        """A hold of the clinic, whatever its state (None: no such hold of this clinic)."""
        ...

    async def release(self, *, clinic_id: UUID, hold_id: UUID, now: datetime) -> Hold | None:
        """End a live hold now; the hold as it then is (None: no such hold of this clinic)."""
        ...
