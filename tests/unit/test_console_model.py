"""The console's pure parts: the Run Sync form, the run tracker, tables, rates, times."""

from __future__ import annotations

import pytest

from pims_sync.cli.console.client import Event
from pims_sync.cli.console.model import (
    FormError,
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


def test_the_form_builds_each_type_s_body() -> None:
    assert sync_request("full", "", "3", "5") == ("full", {"daysAhead": 3, "lookbackDays": 5})
    assert sync_request("inbound", "2026-06-10", "2", "7") == (
        "inbound",
        {"startDate": "2026-06-10", "daysAhead": 2},
    )
    assert sync_request("cases", "2026-06-10", "2", "7") == (
        "cases",
        {"startDate": "2026-06-10", "endDate": "2026-06-12"},
    )
    assert sync_request("reconcile", "", "7", "30") == ("reconcile", {"lookbackDays": 30})


@pytest.mark.parametrize(
    ("values", "field", "words"),
    [
        (("full", "2026-02-30", "7", "7"), "start date", "real day"),
        (("full", "10/06/2026", "7", "7"), "start date", "YYYY-MM-DD"),
        (("full", "", "x", "7"), "days ahead", "whole number"),
        (("full", "", "91", "7"), "days ahead", "from 1 to 90, got 91"),
        (("full", "", "7", "0"), "lookback", "from 1 to 180"),
        (("weekly", "", "7", "7"), "type", "one of"),
    ],
)
def test_the_form_refuses_bad_values_naming_the_field(
    values: tuple[str, str, str, str], field: str, words: str
) -> None:
    with pytest.raises(FormError) as caught:
        sync_request(*values)
    assert caught.value.field == field
    assert words in caught.value.message


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
