"""The clinic health port: pauses, failures in a row, freshness and its announcements.

Every change of a clinic's health is one transaction with the events that say so (the
outbox): an event exists if and only if its change was committed. A status change is
announced once (`clinic.freshness_changed`) however many processes notice it: the row
is locked while the status is decided again and compared with the one last announced.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pims_sync.domain.freshness import ClinicFreshness
from pims_sync.domain.health import ClinicHealth, Limit, PauseKind, PauseReason, RunEnd


class ClinicHealthStore(Protocol):
    """`clinic_sync_health` with the audit rows and schedules that freshness is read from."""

    async def health(self, clinic_id: UUID) -> ClinicHealth:
        """The clinic's row (the defaults when it has none yet)."""
        ...

    async def paused(self) -> set[UUID]:
        """The ids of the paused clinics (the scheduler fires none of their schedules)."""
        ...

    async def run_ended(self, *, clinic_id: UUID, end: RunEnd, at: datetime) -> ClinicFreshness:
        """Count a top-level run, warn or pause by the rules, announce a new status."""
        ...

    async def freshness(
        self, *, at: datetime, clinic_ids: Sequence[UUID] | None = None
    ) -> list[ClinicFreshness]:
        """The status of active clinics (these, or all), as of `at`; announces nothing."""
        ...

    async def reassess(self, *, at: datetime) -> list[ClinicFreshness]:
        """Decide every active clinic's status again and announce those that changed."""
        ...

    async def pause(self, *, clinic_id: UUID, reason: PauseReason, at: datetime) -> bool:
        """Pause the clinic (False: it already was, with its own reason)."""
        ...

    async def resume(
        self, *, clinic_id: UUID, at: datetime, by: str, only: PauseKind | None = None
    ) -> bool:
        """Resume a paused clinic (only one paused for `only`, if given); False: not paused."""
        ...

    async def configure(
        self, *, clinic_id: UUID, limits: Mapping[Limit, int | None]
    ) -> ClinicHealth:
        """Set the clinic's own limits (None: back to the default); the row as it is now."""
        ...
