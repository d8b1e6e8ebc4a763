"""Runs as their audit rows show them: `GET /api/sync/{syncId}`, history, `pims-sync history`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import Field

from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger
from pims_sync.shapes.base import CamelModel, Instant, omitted

FULL_PHASES = 3


def duration_ms(record: RunRecord, now: datetime | None = None) -> int:
    """How long the run took, or has been running so far."""
    end = record.completed_at or now or datetime.now(UTC)
    return max(0, round((end - record.started_at).total_seconds() * 1000))


class Progress(CamelModel):
    """How far a run is; a full run's is its phases' (each a third, finished ones whole)."""

    percentage: int = Field(ge=0, le=100)
    processed: int
    total: int
    last_update: Instant | None

    @classmethod
    def of(cls, record: RunRecord, phases: Sequence[RunRecord] = ()) -> Progress:
        """The run's progress, from its own row or, for a full run, its phases' rows."""
        percentage, processed, total = (
            record.progress_percentage,
            record.processed_items,
            record.total_items,
        )
        last = record.last_progress_update
        if phases and not total:
            done = [100 if p.finished else p.progress_percentage for p in phases]
            percentage = 100 if record.status is RunStatus.COMPLETED else sum(done) // FULL_PHASES
            processed = sum(p.processed_items for p in phases)
            total = sum(p.total_items for p in phases)
            updates = [p.last_progress_update for p in phases if p.last_progress_update]
            last = max(updates, default=last)
        return cls(percentage=percentage, processed=processed, total=total, last_update=last)


class RunSummary(CamelModel):
    """A run as history lists it: identity, timing, the audit row's counters, error."""

    sync_id: UUID
    type: SyncType
    status: RunStatus
    triggered_by: Trigger
    started_at: Instant
    completed_at: Instant | None
    duration_ms: int = Field(description="So far while running; else completedAt − startedAt.")
    stats: RunCounters
    error: str | None

    @classmethod
    def fields_of(cls, record: RunRecord) -> dict[str, Any]:
        """The summary's fields of an audit row, for this shape and the detailed ones."""
        return {
            "sync_id": record.id,
            "type": record.sync_type,
            "status": record.status,
            "triggered_by": record.triggered_by,
            "started_at": record.started_at,
            "completed_at": record.completed_at,
            "duration_ms": duration_ms(record),
            "stats": record.counters,
            "error": record.error_message,
        }

    @classmethod
    def of(cls, record: RunRecord) -> RunSummary:
        """The summary of an audit row."""
        return cls(**cls.fields_of(record))


class _Detailed(RunSummary):
    progress: Progress
    parent_id: UUID | None = omitted("The full run this phase belongs to.")


class PhaseDetail(_Detailed):
    """A phase of a full run, as its run's detail lists it."""

    result: dict[str, Any] | None = Field(description="The phase's result; null while running.")

    @classmethod
    def of(cls, record: RunRecord) -> PhaseDetail:
        """The detail of a phase's audit row."""
        return cls(
            **cls.fields_of(record),
            progress=Progress.of(record),
            parent_id=record.parent_id,
            result=record.result if record.finished else None,
        )


class _Answer(CamelModel):
    success: Literal[True] = True


class _RunParts(CamelModel):
    phases: list[PhaseDetail] = Field(description="A full run's phases; empty for others.")
    result: dict[str, Any] | None = Field(description="What the POST answered; null while running.")


# Fields follow the bases from the last to the first: `success` first, as the original had it.
class RunDetail(_RunParts, _Detailed, _Answer):
    """`GET /api/sync/{syncId}`: summary, progress, phases (a full run's), the result."""

    @classmethod
    def of(cls, record: RunRecord, phases: Sequence[RunRecord] = ()) -> RunDetail:
        """The detail of a run's audit row, with its phases' rows (a full run's)."""
        return cls(
            **cls.fields_of(record),
            progress=Progress.of(record, phases),
            parent_id=record.parent_id,
            phases=[PhaseDetail.of(phase) for phase in phases],
            result=record.result if record.finished else None,
        )


def success_rate(records: list[RunRecord]) -> float | None:
    """Completed runs as a percentage of finished ones (None when none has finished)."""
    finished = [r for r in records if r.finished]
    if not finished:
        return None
    completed = sum(1 for r in finished if r.status is RunStatus.COMPLETED)
    return round(100 * completed / len(finished), 1)


class History(CamelModel):
    """`GET /api/sync/history` and `pims-sync history --json`: runs, how many, success rate."""

    success: Literal[True] = True
    runs: list[RunSummary]
    total: int = Field(description="How many runs are listed.")
    success_rate: float | None = Field(description="% of the finished runs that completed.")

    @classmethod
    def of(cls, records: list[RunRecord]) -> History:
        """The history of these audit rows, newest first as given."""
        return cls(
            runs=[RunSummary.of(record) for record in records],
            total=len(records),
            success_rate=success_rate(records),
        )
