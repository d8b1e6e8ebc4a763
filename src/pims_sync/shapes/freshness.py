"""`GET /api/clinic/freshness` (and `PATCH /api/clinic`): a clinic's freshness status."""

from __future__ import annotations

from typing import Literal
from uuid import UUID

from pydantic import Field

from pims_sync.domain.freshness import ClinicFreshness, PhaseFreshness
from pims_sync.domain.runs import SyncType
from pims_sync.shapes.base import CamelModel, Instant

FreshnessStatus = Literal["fresh", "stale", "failing", "paused"]


class PhaseFreshnessOut(CamelModel):
    """One phase: its last success, its age now, and the age at which it turns stale."""

    last_success_at: Instant | None = Field(description="Null: it never succeeded.")
    age_seconds: int | None = Field(description="Seconds since then; null with it.")
    threshold_seconds: int = Field(description="Older than this, the phase is stale.")

    @classmethod
    def of(cls, phase: PhaseFreshness) -> PhaseFreshnessOut:
        """From the domain's."""
        return cls(
            last_success_at=phase.last_success_at,
            age_seconds=phase.age_seconds,
            threshold_seconds=phase.threshold_seconds,
        )


class ClinicFreshnessOut(CamelModel):
    """A clinic's status: paused > failing > stale > fresh (docs/freshness.md)."""

    clinic_id: UUID
    status: FreshnessStatus
    inbound: PhaseFreshnessOut
    cases: PhaseFreshnessOut
    reconciliation: PhaseFreshnessOut
    consecutive_failures: int = Field(description="Runs failed in a row (0 after a good one).")
    reason: str | None = Field(description="Why it is not fresh; null when fresh.")
    paused_at: Instant | None = Field(description="Null unless paused.")
    checked_at: Instant = Field(description="The instant the ages are counted to.")

    @classmethod
    def of(cls, freshness: ClinicFreshness) -> ClinicFreshnessOut:
        """From the domain's."""
        return cls(
            clinic_id=freshness.clinic_id,
            status=freshness.status.value,
            inbound=PhaseFreshnessOut.of(freshness.phase(SyncType.INBOUND)),
            cases=PhaseFreshnessOut.of(freshness.phase(SyncType.CASES)),
            reconciliation=PhaseFreshnessOut.of(freshness.phase(SyncType.RECONCILIATION)),
            consecutive_failures=freshness.consecutive_failures,
            reason=freshness.reason,
            paused_at=freshness.paused_at,
            checked_at=freshness.checked_at,
        )
