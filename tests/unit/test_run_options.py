"""The run options' declaration: typed values, windows, and requests built from options."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

import pytest

from pims_sync.domain.run_options import (
    DAYS_AHEAD,
    START_DATE,
    attribute,
    check_window,
    parse_typed,
)
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import InvalidInputError, OptionError
from pims_sync.sync.request import SyncRequest, request_from_options, validate

CLINIC = uuid.uuid4()
TODAY = date(2026, 6, 10)


def test_python_names_follow_the_wire_names() -> None:
    assert [attribute(n) for n in ("daysAhead", "parallelBatchSize", "dryRun", "force")] == [
        "days_ahead",
        "parallel_batch_size",
        "dry_run",
        "force",
    ]


@pytest.mark.parametrize(("text", "value"), [(" 7 ", 7), ("+5", 5), ("0", 0), ("090", 90)])
def test_typed_numbers_are_ascii_digits(text: str, value: int) -> None:
    assert DAYS_AHEAD.parse(text) == value


@pytest.mark.parametrize("text", ["", "7.0", "1e1", "0x10", "٣", "seven", "9" * 5000])
def test_other_typed_numbers_are_refused_with_the_rule(text: str) -> None:
    with pytest.raises(OptionError) as caught:
        DAYS_AHEAD.parse(text)
    assert str(caught.value) == "daysAhead must be a whole number from 0 to 90"


def test_dates_are_ascii_and_real() -> None:
    assert START_DATE.check("2026-06-10", TODAY) == TODAY
    with pytest.raises(OptionError, match="must be a date as YYYY-MM-DD"):
        START_DATE.check("２０２６-06-10", TODAY)
    with pytest.raises(OptionError, match="must be a day from 2016-01-01 to 2036-12-31"):
        START_DATE.check(date(2037, 1, 1), TODAY)


def test_a_window_is_ordered_and_at_most_366_days() -> None:
    names = ("startDate", "endDate")
    check_window(TODAY, TODAY + timedelta(days=365), names=names)
    with pytest.raises(OptionError, match="endDate the window may cover at most 366 days"):
        check_window(TODAY, TODAY + timedelta(days=366), names=names)
    with pytest.raises(OptionError, match="endDate must not be before startDate"):
        parse_typed({"startDate": "2026-06-10", "endDate": "2026-06-09"})


def test_a_request_from_options_takes_the_type_s_options_and_checks_them() -> None:
    options = {"daysAhead": 0, "lookbackDays": 0, "parallelBatchSize": 9, "dryRun": True}
    inbound = request_from_options(CLINIC, SyncType.INBOUND, Trigger.SCHEDULER, options)
    assert (inbound.days_ahead, inbound.lookback_days, inbound.parallel_batch_size) == (0, 7, 5)
    assert inbound.dry_run is False
    full = request_from_options(CLINIC, SyncType.FULL, Trigger.SCHEDULER, options)
    assert (full.days_ahead, full.lookback_days, full.parallel_batch_size) == (0, 0, 9)
    with pytest.raises(InvalidInputError, match="force must be true or false"):
        request_from_options(CLINIC, SyncType.RECONCILIATION, Trigger.SCHEDULER, {"force": "yes"})


def test_the_pipeline_checks_a_request_by_the_same_declaration() -> None:
    validate(SyncRequest(CLINIC, SyncType.FULL, days_ahead=90, lookback_days=90), TODAY)
    with pytest.raises(InvalidInputError) as caught:
        validate(SyncRequest(CLINIC, SyncType.RECONCILIATION, lookback_days=91), TODAY)
    assert caught.value.message == "lookbackDays must be a whole number from 0 to 90"
    assert caught.value.context == {"field": "lookbackDays"}
