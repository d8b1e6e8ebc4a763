"""What each phase counts: the `stats` of its result, and how they fill the audit row.

One dataclass per phase, its fields in the documented order (docs/api.md#results): the
phase's items first, then what became of them, then what the PIMS sent that was
tolerated rather than refused (counts only, never data). On the wire the names are
camelCase (`casesFailed`); in code they are attributes, so a misspelt counter is a type
error, not a new key.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, TypeVar

from pims_sync.domain.runs import RunCounters, SyncType


@dataclass(slots=True)
class InboundStats:
    """Inbound: appointments listed, the cases they made, and what was tolerated."""

    phase: ClassVar[SyncType] = SyncType.INBOUND

    appointments_found: int = 0
    cases_created: int = 0
    cases_updated: int = 0
    cases_skipped: int = 0
    cases_failed: int = 0
    events_outside_window: int = 0
    fields_coerced: int = 0

    def counters(self) -> RunCounters:
        """The audit row's counters for this phase."""
        return RunCounters(
            appointments_found=self.appointments_found,
            cases_created=self.cases_created,
            cases_updated=self.cases_updated,
            cases_skipped=self.cases_skipped,
            cases_failed=self.cases_failed,
        )


@dataclass(slots=True)
class CasesStats:
    """Cases (enrichment): candidate cases, enriched, skipped, failed; consultations not ready."""

    phase: ClassVar[SyncType] = SyncType.CASES

    cases_found: int = 0
    cases_enriched: int = 0
    cases_skipped: int = 0
    cases_failed: int = 0
    consultations_not_ready: int = 0

    def counters(self) -> RunCounters:
        """The audit row's counters for this phase."""
        return RunCounters(
            cases_enriched=self.cases_enriched,
            cases_skipped=self.cases_skipped,
            cases_failed=self.cases_failed,
        )


@dataclass(slots=True)
class ReconciliationStats:
    """Reconciliation: cases checked and what was done to them, and what was tolerated."""

    phase: ClassVar[SyncType] = SyncType.RECONCILIATION

    cases_checked: int = 0
    cases_deleted: int = 0
    cases_updated: int = 0
    cases_restored: int = 0
    events_outside_window: int = 0
    fields_coerced: int = 0

    def counters(self) -> RunCounters:
        """The audit row's counters: checked cases in `appointments_found`, restored as updated."""
        return RunCounters(
            appointments_found=self.cases_checked,
            cases_updated=self.cases_updated + self.cases_restored,
            cases_deleted=self.cases_deleted,
        )


PhaseStats = InboundStats | CasesStats | ReconciliationStats
# One of the phases' counters, the same one throughout (a phase's context, report, result).
StatsT = TypeVar("StatsT", InboundStats, CasesStats, ReconciliationStats)
