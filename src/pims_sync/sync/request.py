"""SyncRequest: what a caller asks for, and the clinic-day windows it means.

See docs/api.md#starting-runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import date, timedelta
from typing import Any
from uuid import UUID

from pims_sync.domain.run_options import (
    DAYS_AHEAD,
    DRY_RUN,
    FORCE,
    LOOKBACK_DAYS,
    MAX_WINDOW_DAYS,
    OPTIONS,
    OPTIONS_BY_TYPE,
    PARALLEL_BATCH_SIZE,
    attribute,
)
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import InvalidInputError, OptionError
from pims_sync.sync.windows import DateWindow


@dataclass(frozen=True, slots=True)
class SyncRequest:
    """A run to start: its clinic, type, trigger, dates and options."""

    clinic_id: UUID
    sync_type: SyncType
    triggered_by: Trigger = Trigger.API
    start_date: date | None = None
    end_date: date | None = None
    days_ahead: int = DAYS_AHEAD.default
    lookback_days: int = LOOKBACK_DAYS.default
    parallel_batch_size: int = PARALLEL_BATCH_SIZE.default
    force: bool = FORCE.default
    dry_run: bool = DRY_RUN.default


def request_from_options(
    clinic_id: UUID, sync_type: SyncType, triggered_by: Trigger, options: Mapping[str, Any]
) -> SyncRequest:
    """The request for options named as on the wire (`daysAhead`); defaults for the rest.

    Each value is checked by its declaration (InvalidInputError naming it); options the
    type does not take are left out, as the API ignores them.
    """
    taken = OPTIONS_BY_TYPE[sync_type]
    values: dict[str, Any] = {}
    for name, value in options.items():
        if name in taken:
            try:
                values[attribute(name)] = OPTIONS[name].check(value)
            except OptionError as error:
                raise InvalidInputError(str(error), field=name) from None
    request = SyncRequest(clinic_id=clinic_id, sync_type=sync_type, triggered_by=triggered_by)
    return replace(request, **values)


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
    """start_date (default today − the default lookback, 7) … end_date (default today)."""
    first = request.start_date or today - timedelta(days=LOOKBACK_DAYS.default)
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
    """Raise InvalidInputError for options out of their bounds or dates that make no window."""
    for option in (DAYS_AHEAD, LOOKBACK_DAYS, PARALLEL_BATCH_SIZE):
        try:
            option.check(getattr(request, attribute(option.name)))
        except OptionError as error:
            raise InvalidInputError(str(error), field=option.name) from None
    if request.sync_type is SyncType.INBOUND:
        inbound_window(request, today)
    elif request.sync_type is SyncType.CASES:
        cases_window(request, today)
    elif request.sync_type is SyncType.RECONCILIATION:
        reconciliation_window(request, today)
    else:
        full_windows(request, today)
