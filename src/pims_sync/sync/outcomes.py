"""What runs report: per-phase stats and the JSON shapes of results (docs/api.md#results)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

from pims_sync.domain.case_metadata import iso
from pims_sync.domain.runs import RunCounters, SyncType

# The documented counters first (the first one counts the phase's items), then ours: what the
# PIMS sent that was tolerated rather than refused (counts only, never data).
STAT_KEYS: dict[SyncType, tuple[str, ...]] = {
    SyncType.INBOUND: (
        "appointmentsFound",
        "casesCreated",
        "casesUpdated",
        "casesSkipped",
        "casesFailed",
        "eventsOutsideWindow",
        "fieldsCoerced",
    ),
    SyncType.CASES: (
        "casesFound",
        "casesEnriched",
        "casesSkipped",
        "casesFailed",
        "consultationsNotReady",
    ),
    SyncType.RECONCILIATION: (
        "casesChecked",
        "casesDeleted",
        "casesUpdated",
        "casesRestored",
        "eventsOutsideWindow",
        "fieldsCoerced",
    ),
}


def empty_stats(phase: SyncType) -> dict[str, int]:
    """All of a phase's counters at zero, in the documented order."""
    return dict.fromkeys(STAT_KEYS[phase], 0)


@dataclass
class PhaseReport:
    """What a phase did: counters, per-item errors, and phase-specific extras."""

    phase: SyncType
    stats: dict[str, int]
    errors: list[dict[str, Any]] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def empty(cls, phase: SyncType) -> PhaseReport:
        """A report with every counter at zero."""
        return cls(phase=phase, stats=empty_stats(phase))

    def count(self, name: str, by: int = 1) -> None:
        """Add to one counter."""
        self.stats[name] += by

    def fail_item(self, message: str, **context: Any) -> None:
        """Record a per-item failure (the message names ids only, never people)."""
        self.errors.append({"message": message, **context})

    def counters(self) -> RunCounters:
        """The audit row's counters for this phase."""
        s = self.stats
        return RunCounters(
            appointments_found=s.get("appointmentsFound", s.get("casesChecked", 0)),
            cases_created=s.get("casesCreated", 0),
            cases_updated=s.get("casesUpdated", 0) + s.get("casesRestored", 0),
            cases_enriched=s.get("casesEnriched", 0),
            cases_deleted=s.get("casesDeleted", 0),
            cases_skipped=s.get("casesSkipped", 0),
            cases_failed=s.get("casesFailed", 0),
        )

    @property
    def items(self) -> int:
        """How many items the phase worked through (for the audit's total)."""
        first = STAT_KEYS[self.phase][0]
        return self.stats[first]


@dataclass
class PhaseOutcome:
    """The end of one phase (a run of its own, or part of a full run)."""

    run_id: UUID
    phase: SyncType
    success: bool
    report: PhaseReport
    finished_at: datetime
    duration_ms: int = 0
    error: str | None = None
    error_code: str | None = None
    skipped: bool = False
    cause: BaseException | None = field(default=None, repr=False, compare=False)

    @property
    def stats(self) -> dict[str, int]:
        """The phase's counters."""
        return self.report.stats

    def as_phase_dict(self) -> dict[str, Any]:
        """The shape of a phase inside a full result: `{success, syncId, stats, error?}`."""
        result: dict[str, Any] = {
            "success": self.success,
            "syncId": str(self.run_id),
            "stats": dict(self.report.stats),
        }
        if self.error is not None:
            result["error"] = self.error
        if self.skipped:
            result["skipped"] = True
        if self.report.errors:
            result["errors"] = list(self.report.errors)
        result.update(self.report.extra)
        return result

    def as_dict(self) -> dict[str, Any]:
        """The result of a single-phase run (docs/api.md#results)."""
        result: dict[str, Any] = {
            "success": self.success,
            "syncId": str(self.run_id),
            "stats": dict(self.report.stats),
            "durationMs": self.duration_ms,
            "timestamp": iso(self.finished_at),
        }
        if self.error is not None:
            result["error"] = self.error
        if self.report.errors:
            result["errors"] = list(self.report.errors)
        result.update(self.report.extra)
        return result


@dataclass
class FullOutcome:
    """The end of a full run: its three phases; `success` only if all succeeded."""

    run_id: UUID
    inbound: PhaseOutcome
    cases: PhaseOutcome
    reconciliation: PhaseOutcome
    finished_at: datetime
    duration_ms: int = 0

    @property
    def success(self) -> bool:
        """Whether every phase succeeded (HTTP 207 otherwise)."""
        return all(p.success for p in (self.inbound, self.cases, self.reconciliation))

    @property
    def phases(self) -> tuple[PhaseOutcome, PhaseOutcome, PhaseOutcome]:
        """The phases in run order."""
        return (self.inbound, self.cases, self.reconciliation)

    def as_dict(self) -> dict[str, Any]:
        """The result of a full run (docs/api.md#results)."""
        return {
            "success": self.success,
            "syncId": str(self.run_id),
            "inboundResult": self.inbound.as_phase_dict(),
            "casesResult": self.cases.as_phase_dict(),
            "reconciliationResult": self.reconciliation.as_phase_dict(),
            "durationMs": self.duration_ms,
            "timestamp": iso(self.finished_at),
        }

    def counters(self) -> RunCounters:
        """The full row's counters: the sum of its phases'."""
        parts = [p.report.counters() for p in self.phases]
        names = RunCounters.__dataclass_fields__
        totals = {n: sum(getattr(c, n) for c in parts) for n in names}
        # Appointments are what the PIMS listed; reconciliation's checked cases are not.
        totals["appointments_found"] = parts[0].appointments_found
        return RunCounters(**totals)


SyncOutcome = PhaseOutcome | FullOutcome
