"""The results of runs: what a sync POST answers, the audit row keeps and `completed` carries.

A run of one phase answers that phase's result (with `durationMs` and `timestamp`); a full
run answers a `FullResult` whose three phase results have neither (but may be `skipped`).
Fields shown only when they apply are left out of the JSON rather than written as null
(docs/api.md#results).
"""

from __future__ import annotations

from typing import Any, Generic, Literal
from uuid import UUID

from pydantic import ConfigDict, TypeAdapter
from pydantic.alias_generators import to_camel

from pims_sync.domain.runs import RunCounters
from pims_sync.domain.stats import (
    CasesStats,
    InboundStats,
    PhaseStats,
    ReconciliationStats,
    StatsT,
)
from pims_sync.shapes.base import CamelModel, Instant, omitted

_STATS = TypeAdapter(
    PhaseStats | RunCounters,
    config=ConfigDict(alias_generator=to_camel, serialize_by_alias=True),
)


def stats_json(stats: PhaseStats | RunCounters) -> dict[str, Any]:
    """Counters as the answers show them (camelCase, in order): a phase's, or an audit row's."""
    shown: dict[str, Any] = _STATS.dump_python(stats, mode="json")
    return shown


# --- Per-item failures: the run went on without these items ---------------------------


class RejectedEventError(CamelModel):
    """A calendar event that could not be read (inbound and reconciliation)."""

    message: str
    index: int
    reason: str
    appointment_id: str | None = omitted("The event's appointment id, when it was readable.")
    external_id: str | None = omitted("Inbound: the external id of that appointment's case.")


class FailedAppointment(CamelModel):
    """An appointment inbound could not write."""

    message: str
    external_id: str


class FailedCase(CamelModel):
    """A case whose consultation could not be fetched (cases phase)."""

    message: str
    case_id: UUID
    consultation_id: str
    reason: str


ItemError = RejectedEventError | FailedAppointment | FailedCase


# --- Phase results ------------------------------------------------------------------


class PhaseResult(CamelModel, Generic[StatsT]):
    """What one phase did: its counters, how it ended, the items that failed."""

    success: bool
    sync_id: UUID
    stats: StatsT
    duration_ms: int | None = omitted("A run of this phase alone: the whole run, login included.")
    timestamp: Instant | None = omitted("A run of this phase alone: when it ended.")
    error: str | None = omitted("Why the phase failed.")
    skipped: Literal[True] | None = omitted("Inside a full run: the phase did not run.")
    errors: list[ItemError] | None = omitted("Per-item failures (the phase went on).")


class InboundResult(PhaseResult[InboundStats]):
    """Inbound's result."""


class CasesResult(PhaseResult[CasesStats]):
    """The cases phase's result."""


class PlannedChange(CamelModel):
    """A change a dry run of reconciliation would make."""

    case_id: UUID
    external_id: str
    reason: str


class DeletionsHeld(CamelModel):
    """Deletions reconciliation held back: the calendar had events without a readable id."""

    cases: int
    reason: str


class ReconciliationDetails(CamelModel):
    """What reconciliation adds to its result: what it did, or would do in a dry run."""

    deletions_held: DeletionsHeld | None = omitted("Cases not deleted, and why.")
    dry_run: Literal[True] | None = omitted("A dry run: nothing was changed.")
    would_delete: list[PlannedChange] | None = omitted("Dry run: cases it would soft-delete.")
    would_restore: list[PlannedChange] | None = omitted("Dry run: cases it would restore.")
    would_update: list[PlannedChange] | None = omitted("Dry run: cases it would update.")
    guard: str | None = omitted("Dry run: why a real run would stop at the deletion guard.")
    deleted_case_ids: list[UUID] | None = omitted("The cases soft-deleted (none in a dry run).")


# The details come first among the bases so that their fields follow the phase's.
class ReconciliationResult(ReconciliationDetails, PhaseResult[ReconciliationStats]):
    """Reconciliation's result: its counters, and what it did or would do."""


AnyPhaseResult = InboundResult | CasesResult | ReconciliationResult


class FullResult(CamelModel):
    """A full run's result; `success` only when every phase succeeded (else HTTP 207)."""

    success: bool
    sync_id: UUID
    inbound_result: InboundResult
    cases_result: CasesResult
    reconciliation_result: ReconciliationResult
    duration_ms: int
    timestamp: Instant


RunResult = AnyPhaseResult | FullResult


# --- Runs that failed as a whole, and the 202 of an async start -----------------------


class FailedRun(CamelModel):
    """What the audit row and the `failed` event keep of a run that failed as a whole."""

    success: Literal[False] = False
    sync_id: UUID
    error: str
    code: str
    duration_ms: int | None = omitted("Absent when the run was stopped before it began.")
    timestamp: Instant | None = omitted("Absent when the run was stopped before it began.")


class AbortedPhase(CamelModel):
    """A phase row's result when its run was stopped, or its login failed, mid-phase."""

    success: Literal[False] = False
    error: str


class Queued(CamelModel):
    """The 202 answer of `"async": true`: where to follow the run."""

    success: Literal[True] = True
    sync_id: UUID
    status: Literal["queued"] = "queued"
    status_url: str
    events_url: str
