"""The console's pure parts: the Run Sync form, the run tracker, tables, rates, times."""

from __future__ import annotations

import pytest

from pims_sync.cli.console.client import Event
from pims_sync.cli.console.model import (
    RateMeter,
    RunTracker,
    bar,
    duration,
    requests_total,
    result_rows,
    short_stats,
    sync_request,
    when,
)
from pims_sync.errors import FormError


def form(
    start: str = "", days: str = "7", lookback: str = "7", parallel: str = "5"
) -> dict[str, str]:
    return {"start": start, "days": days, "lookback": lookback, "parallel": parallel}


def test_the_form_builds_each_type_s_body() -> None:
    assert sync_request("full", form(days="3", lookback="5")) == (
        "full",
        {"daysAhead": 3, "lookbackDays": 5, "parallelBatchSize": 5},
    )
    assert sync_request("inbound", form("2026-06-10", days="2")) == (
        "inbound",
        {"startDate": "2026-06-10", "daysAhead": 2},
    )
    assert sync_request("cases", form("2026-06-10", days="2", parallel="9")) == (
        "cases",
        {"startDate": "2026-06-10", "parallelBatchSize": 9, "endDate": "2026-06-12"},
    )
    assert sync_request("reconcile", form("2026-06-10", lookback="30")) == (
        "reconcile",
        {"lookbackDays": 30},
    )
    # A blank number is not sent: the service's default applies.
    assert sync_request("inbound", form(days=" ")) == ("inbound", {})


@pytest.mark.parametrize(
    ("kind", "typed", "field", "message"),
    [
        ("full", form("2026-02-30"), "start date", "start date is not a real date"),
        ("full", form("10/06/2026"), "start date", "start date must be a date as YYYY-MM-DD"),
        ("full", form(days="x"), "days ahead", "days ahead must be a whole number from 0 to 90"),
        ("full", form(days="91"), "days ahead", "days ahead must be a whole number from 0 to 90"),
        ("full", form(lookback="-1"), "lookback days", "must be a whole number from 0 to 90"),
        ("cases", form(parallel="0"), "parallel fetches", "must be a whole number from 1 to 50"),
        ("weekly", form(), "type", "type must be one of full, inbound, cases, reconcile"),
    ],
)
def test_the_form_refuses_bad_values_naming_the_field(
    kind: str, typed: dict[str, str], field: str, message: str
) -> None:
    with pytest.raises(FormError) as caught:
        sync_request(kind, typed)
    assert caught.value.field == field
    assert message in caught.value.message


def test_the_tracker_follows_a_full_run_to_100_percent() -> None:
    tracker = RunTracker("full")
    assert list(tracker.bars) == ["inbound", "cases", "reconciliation"]
    events = [
        Event("log", {"phase": "full", "message": "Authenticated with IDEXX Neo"}),
        Event("phase", {"phase": "inbound", "status": "started"}),
        Event("progress", {"phase": "inbound", "percentage": 40, "processed": 4, "total": 10}),
        Event("phase", {"phase": "inbound", "status": "completed", "stats": {"a": 10}}),
    ]
    lines = [line for event in events for line in tracker.apply(event)]
    assert lines == [
        "✓ Authenticated with IDEXX Neo",
        "⟳ Starting inbound…",
        "✓ inbound done: a 10",
    ]
    assert tracker.bars["inbound"].percentage == 100.0
    assert list(tracker.bars) == ["inbound", "cases", "reconciliation"]  # no bar for "full"
    for n in range(12):
        tracker.apply(Event("log", {"phase": "cases", "message": f"line {n}"}))
    assert len(tracker.log) == 10
    assert tracker.log[-1] == "✓ line 11"


def test_a_failure_marks_the_running_phase_failed() -> None:
    tracker = RunTracker("inbound")
    tracker.apply(Event("phase", {"phase": "inbound", "status": "started"}))
    lines = tracker.apply(Event("failed", {"error": "PIMS login failed: no", "result": None}))
    assert lines == ["✗ Sync failed: PIMS login failed: no"]
    assert (tracker.outcome, tracker.bars["inbound"].status) == ("failed", "failed")


def test_tables_and_formats() -> None:
    assert bar(50, 10) == "█████░░░░░"
    assert short_stats({"appointmentsFound": 3, "casesCreated": 0, "casesUpdated": 2}) == (
        "found 3 · updated 2"
    )
    full = {
        "inboundResult": {"success": True, "stats": {"appointmentsFound": 2}},
        "casesResult": {"success": False, "error": "boom"},
        "reconciliationResult": None,
    }
    assert result_rows(full, "full") == [
        ("inbound", "✓ ok", "found 2"),
        ("cases", "✗ failed", "boom"),
        ("reconciliation", "–", ""),
    ]
    assert (duration(850), duration(12_300), duration(245_000)) == ("850ms", "12.3s", "4m05s")
    assert when("2026-06-11T13:00:00Z", "America/Los_Angeles") == "2026-06-11 06:00 PDT"
    assert when("2026-06-11T13:00:00Z", "Not/AZone") == "2026-06-11 13:00 UTC"


def test_request_rate_from_two_scrapes() -> None:
    text = (
        "# TYPE pims_sync_http_requests counter\n"
        'pims_sync_http_requests_total{method="GET",route="/health",status="200"} 7.0\n'
        'pims_sync_http_requests_total{method="GET",route="/metrics",status="200"} 3.0\n'
    )
    assert requests_total(text) == 10.0
    meter = RateMeter()
    assert meter.add(100.0, 10.0) is None
    assert meter.add(102.0, 16.0) == 3.0
    assert meter.add(103.0, 1.0) is None  # the service restarted: no negative rate
