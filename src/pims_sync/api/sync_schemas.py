"""Sync request bodies (validated, camelCase) and the JSON shapes of runs.

Bodies accept what callers of the original send (docs/api.md#starting-runs): `dateRange`
on inbound, `bidirectional` / `backwardDays` / `forwardDays` on full. Unknown fields are
ignored, as the original did. Dates are `YYYY-MM-DD` clinic days within
`MAX_YEARS_AWAY` years of today (year 0226 or 2206 is a typo, and years 1 or 9999 would
overflow the window arithmetic); a window given by explicit dates may span at most
`MAX_WINDOW_DAYS` days (one year, leap day included): longer ones are almost always a
typo and would mean thousands of PIMS requests. Numbers and flags must be JSON numbers
and booleans: `"7"` or `true` for `daysAhead` is refused, not guessed at.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any
from uuid import UUID

from pydantic import BeforeValidator, Field, Strict, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError

from pims_sync.api.schemas import CamelModel
from pims_sync.domain import case_metadata
from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger
from pims_sync.sync.request import SyncRequest

MAX_WINDOW_DAYS = 366
MAX_YEARS_AWAY = 10
_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")

Count = Annotated[int, Strict()]
Flag = Annotated[bool, Strict()]


def _within_reach(day: date) -> date:
    """The day, if its year is at most MAX_YEARS_AWAY from this year."""
    this_year = datetime.now(UTC).year
    first = date(this_year - MAX_YEARS_AWAY, 1, 1)
    last = date(this_year + MAX_YEARS_AWAY, 12, 31)
    if not first <= day <= last:
        raise PydanticCustomError("date_out_of_range", f"must be a day from {first} to {last}")
    return day


def _clinic_day(value: object) -> object:
    """A `YYYY-MM-DD` string naming a real date within reach (no `2026-02-30`, no `0001-01-01`)."""
    if value is None:
        return value
    if isinstance(value, date):
        return _within_reach(value)
    if not isinstance(value, str) or not _DAY.fullmatch(value.strip()):
        raise PydanticCustomError("date_format", "must be a date as YYYY-MM-DD")
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        raise PydanticCustomError("date_invalid", "is not a real date") from None
    return _within_reach(day)


ClinicDay = Annotated[date, BeforeValidator(_clinic_day)]


def _after_start(end: date | None, start: date | None, name: str = "startDate") -> date | None:
    """The end day, if it is not before the start day and the window is not too long."""
    if end is None or start is None:
        return end
    if end < start:
        raise PydanticCustomError("date_order", f"must not be before {name}")
    if (end - start).days + 1 > MAX_WINDOW_DAYS:
        raise PydanticCustomError(
            "window_too_long", f"the window may cover at most {MAX_WINDOW_DAYS} days"
        )
    return end


class DateRange(CamelModel):
    """The original's `dateRange: {start, end}` (flat `startDate`/`endDate` win)."""

    start: ClinicDay | None = None
    end: ClinicDay | None = None

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: date | None, info: ValidationInfo) -> date | None:
        return _after_start(end, info.data.get("start"), "start")


class SyncBody(CamelModel):
    """What every sync body takes: the clinic (service keys) and the answer mode."""

    clinic_id: UUID | None = None
    run_async: Flag = Field(
        False, alias="async", description="Answer 202 at once; follow statusUrl / eventsUrl."
    )

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The service request this body asks for."""
        raise NotImplementedError


class InboundBody(SyncBody):
    """`POST /api/sync/inbound`: appointments of a window → cases."""

    start_date: ClinicDay | None = Field(None, description="First day (default today).")
    end_date: ClinicDay | None = Field(None, description="Last day (default start + daysAhead).")
    days_ahead: Count = Field(7, ge=1, le=90)
    date_range: DateRange | None = None

    @field_validator("end_date")
    @classmethod
    def _ordered(cls, end: date | None, info: ValidationInfo) -> date | None:
        return _after_start(end, info.data.get("start_date"))

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """Flat dates first, then `dateRange` (as the original did, field by field)."""
        ranged = self.date_range or DateRange()
        # A window mixing flat and ranged dates is checked by the service (400 too).
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.INBOUND,
            triggered_by=triggered_by,
            start_date=self.start_date or ranged.start,
            end_date=self.end_date or ranged.end,
            days_ahead=self.days_ahead,
        )


class CasesBody(SyncBody):
    """`POST /api/sync/cases`: enrich past cases with their consultations."""

    start_date: ClinicDay | None = Field(None, description="First day (default today − 7).")
    end_date: ClinicDay | None = Field(None, description="Last day (default today).")
    parallel_batch_size: Count = Field(5, ge=1, le=50)

    @field_validator("end_date")
    @classmethod
    def _ordered(cls, end: date | None, info: ValidationInfo) -> date | None:
        return _after_start(end, info.data.get("start_date"))

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The cases request."""
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.CASES,
            triggered_by=triggered_by,
            start_date=self.start_date,
            end_date=self.end_date,
            parallel_batch_size=self.parallel_batch_size,
        )


class ReconcileBody(SyncBody):
    """`POST /api/sync/reconcile`: soft-delete cases whose appointment left the PIMS."""

    lookback_days: Count = Field(7, ge=1, le=180)
    force: Flag = Field(False, description="Proceed past the mass-deletion guard.")
    dry_run: Flag = Field(False, description="Report what would change; change nothing.")

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The reconciliation request."""
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.RECONCILIATION,
            triggered_by=triggered_by,
            lookback_days=self.lookback_days,
            force=self.force,
            dry_run=self.dry_run,
        )


class FullBody(SyncBody):
    """`POST /api/sync/full`: inbound, cases, reconciliation in one run, one login.

    `forwardDays` / `backwardDays` are the original's names for `daysAhead` /
    `lookbackDays`; giving both names with different values is refused.
    `bidirectional` is accepted and has no effect: every full run covers both sides.
    """

    days_ahead: Count | None = Field(None, ge=1, le=90, description="Default 7.")
    lookback_days: Count | None = Field(None, ge=1, le=180, description="Default 7.")
    start_date: ClinicDay | None = None
    forward_days: Count | None = Field(None, ge=1, le=90, description="Alias of daysAhead.")
    backward_days: Count | None = Field(None, ge=1, le=180, description="Alias of lookbackDays.")
    bidirectional: Flag = True
    force: Flag = False

    @field_validator("forward_days")
    @classmethod
    def _same_ahead(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _same_as(value, info.data.get("days_ahead"), "daysAhead")

    @field_validator("backward_days")
    @classmethod
    def _same_back(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _same_as(value, info.data.get("lookback_days"), "lookbackDays")

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The full request (the original's names resolved)."""
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.FULL,
            triggered_by=triggered_by,
            start_date=self.start_date,
            days_ahead=self.days_ahead or self.forward_days or 7,
            lookback_days=self.lookback_days or self.backward_days or 7,
            force=self.force,
        )


def _same_as(alias_value: int | None, value: int | None, name: str) -> int | None:
    if alias_value is not None and value is not None and alias_value != value:
        raise PydanticCustomError("conflict", f"differs from {name}; give one of the two")
    return alias_value


BODY_BY_TYPE: dict[SyncType, type[SyncBody]] = {
    SyncType.INBOUND: InboundBody,
    SyncType.CASES: CasesBody,
    SyncType.RECONCILIATION: ReconcileBody,
    SyncType.FULL: FullBody,
}


# --- Runs as the API shows them ----------------------------------------------------


def iso(moment: datetime | None) -> str | None:
    """An instant as ISO 8601 UTC with milliseconds (`…Z`), or None."""
    return None if moment is None else case_metadata.iso(moment)


def counters_json(counters: RunCounters) -> dict[str, int]:
    """The audit row's counters, camelCase."""
    return {
        "appointmentsFound": counters.appointments_found,
        "casesCreated": counters.cases_created,
        "casesUpdated": counters.cases_updated,
        "casesEnriched": counters.cases_enriched,
        "casesDeleted": counters.cases_deleted,
        "casesSkipped": counters.cases_skipped,
        "casesFailed": counters.cases_failed,
    }


def duration_ms(record: RunRecord, now: datetime | None = None) -> int:
    """How long the run took, or has been running so far."""
    end = record.completed_at or now or datetime.now(UTC)
    return max(0, round((end - record.started_at).total_seconds() * 1000))


def run_summary(record: RunRecord) -> dict[str, Any]:
    """A run as history lists it: identity, timing, counters, error."""
    return {
        "syncId": str(record.id),
        "type": record.sync_type.value,
        "status": record.status.value,
        "triggeredBy": record.triggered_by.value,
        "startedAt": iso(record.started_at),
        "completedAt": iso(record.completed_at),
        "durationMs": duration_ms(record),
        "stats": counters_json(record.counters),
        "error": record.error_message,
    }


FULL_PHASES = 3


def progress_json(record: RunRecord, phases: list[RunRecord] | None) -> dict[str, Any]:
    """The run's progress; a full run's is its phases' (each a third, finished ones whole)."""
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
    return {
        "percentage": percentage,
        "processed": processed,
        "total": total,
        "lastUpdate": iso(last),
    }


def run_detail(record: RunRecord, phases: list[RunRecord] | None = None) -> dict[str, Any]:
    """A run as `GET /api/sync/{syncId}` shows it: summary, progress, phases, result."""
    detail = {**run_summary(record), "progress": progress_json(record, phases)}
    if record.parent_id is not None:
        detail["parentId"] = str(record.parent_id)
    if phases is not None:
        detail["phases"] = [run_detail(phase) for phase in phases]
    detail["result"] = record.result if record.finished else None
    return detail


def success_rate(records: list[RunRecord]) -> float | None:
    """Completed runs as a percentage of finished ones (None when none has finished)."""
    finished = [r for r in records if r.finished]
    if not finished:
        return None
    completed = sum(1 for r in finished if r.status is RunStatus.COMPLETED)
    return round(100 * completed / len(finished), 1)
