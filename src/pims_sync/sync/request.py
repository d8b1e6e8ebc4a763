"""SyncRequest: what a caller asks for, and the clinic-day windows it means.

See docs/api.md#starting-runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from uuid import UUID

from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import InvalidInputError
from pims_sync.sync.windows import DateWindow

# A bound on one request's calendar: a year of appointments is already a migration.
MAX_WINDOW_DAYS = 366


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A run to start: its clinic, type, trigger, dates and options."""

    clinic_id: UUID
    sync_type: SyncType
    triggered_by: Trigger = Trigger.API
    start_date: date | None = None
    end_date: date | None = None
    days_ahead: int = 7
    lookback_days: int = 7
    parallel_batch_size: int = 5
    force: bool = False
    dry_run: bool = False


def _window(first: date, last: date, what: str) -> DateWindow:
    if last < first:
        raise InvalidInputError(f"{what}: end date {last} is before start date {first}")
    window = DateWindow(first, last)
    if window.days > MAX_WINDOW_DAYS:
        raise InvalidInputError(f"{what}: {window.days} days is more than {MAX_WINDOW_DAYS}")
    return window


def inbound_window(request: SyncRequest, today: date) -> DateWindow:
    """start_date (default today) … end_date (default start + days_ahead), inclusive."""
    first = request.start_date or today
    last = request.end_date or first + timedelta(days=request.days_ahead)
    return _window(first, last, "inbound window")


def cases_window(request: SyncRequest, today: date) -> DateWindow:
    """start_date (default today − 7) … end_date (default today)."""
    first = request.start_date or today - timedelta(days=7)
    last = request.end_date or today
    return _window(first, last, "cases window")


def reconciliation_window(request: SyncRequest, today: date) -> DateWindow:
    """today − lookback_days … today (the service caps the end at the end of today)."""
    return _window(today - timedelta(days=request.lookback_days), today, "reconciliation window")


@dataclass(frozen=True, slots=True)
class FullWindows:
    """The windows of the three phases of a full run."""

    inbound: DateWindow
    cases: DateWindow
    reconciliation: DateWindow


def full_windows(request: SyncRequest, today: date) -> FullWindows:
    """Inbound over [day − lookback, day + ahead] (day = start_date or today), then the rest.

    Cases cover the past part of inbound's window; reconciliation always looks back
    from the real today, since "removed from the PIMS" is only knowable up to now.
    """
    day = request.start_date or today
    back = timedelta(days=request.lookback_days)
    return FullWindows(
        inbound=_window(day - back, day + timedelta(days=request.days_ahead), "full window"),
        cases=_window(day - back, min(day, today) if day - back <= today else day - back, "cases"),
        reconciliation=reconciliation_window(request, today),
    )


def validate(request: SyncRequest, today: date) -> None:
    """Raise InvalidInputError for options out of range or dates that make no window."""
    checks = (
        (request.days_ahead, 0, 366, "daysAhead"),
        (request.lookback_days, 0, 366, "lookbackDays"),
        (request.parallel_batch_size, 1, 50, "parallelBatchSize"),
    )
    for value, low, high, name in checks:
        if not low <= value <= high:
            raise InvalidInputError(f"{name} must be between {low} and {high}", field=name)
    if request.sync_type is SyncType.INBOUND:
        inbound_window(request, today)
    elif request.sync_type is SyncType.CASES:
        cases_window(request, today)
    elif request.sync_type is SyncType.RECONCILIATION:
        reconciliation_window(request, today)
    else:
        full_windows(request, today)
