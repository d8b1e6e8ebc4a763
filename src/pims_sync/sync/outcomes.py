"""What runs report: each phase's typed counters, its failed items, and the results they make.

The JSON of a result is its model in `shapes/results.py` (docs/api.md#results).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, overload
from uuid import UUID

from pims_sync.domain.runs import RunCounters, SyncType
from pims_sync.domain.stats import CasesStats, InboundStats, ReconciliationStats, StatsT
from pims_sync.shapes.results import (
    CasesResult,
    FullResult,
    InboundResult,
    ItemError,
    ReconciliationDetails,
    ReconciliationResult,
)


@dataclass
class PhaseReport(Generic[StatsT]):
    """What a phase did: its counters, its failed items, and reconciliation's details."""

    stats: StatsT
    errors: list[ItemError] = field(default_factory=list)
    details: ReconciliationDetails = field(default_factory=ReconciliationDetails)

    @property
    def phase(self) -> SyncType:
        """The phase these counters are of."""
        return self.stats.phase

    def fail_item(self, error: ItemError) -> None:
        """Record a per-item failure (its message names ids only, never people)."""
        self.errors.append(error)

    def counters(self) -> RunCounters:
        """The audit row's counters for this phase."""
        return self.stats.counters()


class Reported(Generic[StatsT]):
    """What holds a phase's report (its context, its outcome): the phase and counters at hand."""

    report: PhaseReport[StatsT]

    @property
    def phase(self) -> SyncType:
        """Which phase this is."""
        return self.report.phase

    @property
    def stats(self) -> StatsT:
        """The phase's counters."""
        return self.report.stats


@dataclass
class PhaseOutcome(Reported[StatsT]):
    """The end of one phase (a run of its own, or part of a full run)."""

    run_id: UUID
    success: bool
    report: PhaseReport[StatsT]
    finished_at: datetime
    duration_ms: int = 0
    error: str | None = None
    error_code: str | None = None
    skipped: bool = False
    cause: BaseException | None = field(default=None, repr=False, compare=False)

    def _fields(self, *, alone: bool) -> dict[str, Any]:
        """The result's fields: timing when the phase was the whole run, else `skipped`."""
        found: dict[str, Any] = {
            "success": self.success,
            "sync_id": self.run_id,
            "stats": self.report.stats,
            "error": self.error,
            "errors": list(self.report.errors) or None,
        }
        if alone:
            found |= {"duration_ms": self.duration_ms, "timestamp": self.finished_at}
        else:
            found["skipped"] = True if self.skipped else None
        return found

    @overload
    def result(self: PhaseOutcome[InboundStats], *, alone: bool = ...) -> InboundResult: ...
    @overload
    def result(self: PhaseOutcome[CasesStats], *, alone: bool = ...) -> CasesResult: ...
    @overload
    def result(
        self: PhaseOutcome[ReconciliationStats], *, alone: bool = ...
    ) -> ReconciliationResult: ...

    def result(self, *, alone: bool = True) -> InboundResult | CasesResult | ReconciliationResult:
        """The phase's result: of a run of this phase `alone`, or inside a full result."""
        fields = self._fields(alone=alone)
        stats = self.report.stats
        if isinstance(stats, InboundStats):
            return InboundResult(**fields)
        if isinstance(stats, CasesStats):
            return CasesResult(**fields)
        return ReconciliationResult(**fields, **dict(self.report.details))


@dataclass
class FullOutcome:
    """The end of a full run: its three phases; `success` only if all succeeded."""

    run_id: UUID
    inbound: PhaseOutcome[InboundStats]
    cases: PhaseOutcome[CasesStats]
    reconciliation: PhaseOutcome[ReconciliationStats]
    finished_at: datetime
    duration_ms: int = 0

    @property
    def success(self) -> bool:
        """Whether every phase succeeded (HTTP 207 otherwise)."""
        return all(p.success for p in self.phases)

    @property
    def phases(
        self,
    ) -> tuple[
        PhaseOutcome[InboundStats], PhaseOutcome[CasesStats], PhaseOutcome[ReconciliationStats]
    ]:
        """The phases in run order."""
        return (self.inbound, self.cases, self.reconciliation)

    def result(self) -> FullResult:
        """The result of a full run (docs/api.md#results)."""
        return FullResult(
            success=self.success,
            sync_id=self.run_id,
            inbound_result=self.inbound.result(alone=False),
            cases_result=self.cases.result(alone=False),
            reconciliation_result=self.reconciliation.result(alone=False),
            duration_ms=self.duration_ms,
            timestamp=self.finished_at,
        )

    def counters(self) -> RunCounters:
        """The full row's counters: the sum of its phases'."""
        parts = [p.report.counters() for p in self.phases]
        names = RunCounters.__dataclass_fields__
        totals = {n: sum(getattr(c, n) for c in parts) for n in names}
        # Appointments are what the PIMS listed; reconciliation's checked cases are not.
        totals["appointments_found"] = parts[0].appointments_found
        return RunCounters(**totals)


SyncOutcome = (
    PhaseOutcome[InboundStats]
    | PhaseOutcome[CasesStats]
    | PhaseOutcome[ReconciliationStats]
    | FullOutcome
)


def run_error(outcome: SyncOutcome) -> str | None:
    """Why a finished run did not succeed: its phase's error, or its failed phases'."""
    if isinstance(outcome, FullOutcome):
        failed = [p for p in outcome.phases if not p.success]
        return "; ".join(f"{p.phase.value}: {p.error}" for p in failed) or None
    return outcome.error


def run_error_code(outcome: SyncOutcome) -> str | None:
    """The machine code of why a finished run did not succeed (a full run: its first failure)."""
    if isinstance(outcome, FullOutcome):
        return next((p.error_code for p in outcome.phases if not p.success), None)
    return outcome.error_code
