"""The answers' shapes: typed counters, what results leave out, run views, the OpenAPI models."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from pims_sync.api.app import create_app
from pims_sync.api.routes import clinic, scheduler, sync, system
from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger
from pims_sync.domain.stats import CasesStats, InboundStats, ReconciliationStats
from pims_sync.settings import load_settings
from pims_sync.shapes.results import (
    DeletionsHeld,
    FailedRun,
    FullResult,
    ReconciliationResult,
    RejectedEventError,
    stats_json,
)
from pims_sync.shapes.runs import History, Progress, RunDetail, RunSummary
from pims_sync.sync.outcomes import FullOutcome, PhaseOutcome, PhaseReport

CLINIC = uuid.uuid4()
ENDED = datetime(2026, 1, 5, 12, 0, 2, tzinfo=UTC)


def test_each_phase_counts_into_the_audit_row_counters() -> None:
    inbound = InboundStats(appointments_found=9, cases_created=4, cases_updated=3)
    inbound.cases_skipped, inbound.cases_failed, inbound.events_outside_window = 1, 1, 6
    assert inbound.counters() == RunCounters(
        appointments_found=9, cases_created=4, cases_updated=3, cases_skipped=1, cases_failed=1
    )
    cases = CasesStats(cases_found=5, cases_enriched=2, cases_skipped=2, cases_failed=1)
    assert cases.counters() == RunCounters(cases_enriched=2, cases_skipped=2, cases_failed=1)
    back = ReconciliationStats(cases_checked=7, cases_deleted=2, cases_updated=1, cases_restored=1)
    assert back.counters() == RunCounters(appointments_found=7, cases_updated=2, cases_deleted=2)
    assert list(stats_json(back)) == [
        "casesChecked",
        "casesDeleted",
        "casesUpdated",
        "casesRestored",
        "eventsOutsideWindow",
        "fieldsCoerced",
    ]


def outcome(stats: Any, **changes: Any) -> PhaseOutcome[Any]:
    values: dict[str, Any] = {
        "run_id": uuid.uuid4(),
        "success": True,
        "report": PhaseReport(stats),
        "finished_at": ENDED,
        "duration_ms": 1500,
        **changes,
    }
    return PhaseOutcome(**values)


def test_a_result_leaves_out_what_does_not_apply() -> None:
    alone = outcome(CasesStats(cases_found=1)).result().wire()
    assert list(alone) == ["success", "syncId", "stats", "durationMs", "timestamp"]
    assert alone["timestamp"] == "2026-01-05T12:00:02.000Z"
    skipped = outcome(ReconciliationStats(), success=False, error="no calendar", skipped=True)
    inside = skipped.result(alone=False).wire()
    assert list(inside) == ["success", "syncId", "stats", "error", "skipped"]
    checked = outcome(ReconciliationStats(cases_checked=2))
    checked.report.fail_item(RejectedEventError(message="event #3", index=3, reason="no start"))
    checked.report.details.deletions_held = DeletionsHeld(cases=1, reason="unreadable")
    checked.report.details.deleted_case_ids = []
    shown = checked.result().wire()
    assert shown["errors"] == [{"message": "event #3", "index": 3, "reason": "no start"}]
    assert list(shown)[-2:] == ["deletionsHeld", "deletedCaseIds"]
    assert "deletionsHeld" not in outcome(InboundStats()).result().wire()
    stopped = FailedRun(sync_id=uuid.uuid4(), error="cancelled", code="cancelled").wire()
    assert list(stopped) == ["success", "syncId", "error", "code"]


def test_a_full_result_reads_back_into_its_model() -> None:
    full = FullOutcome(
        run_id=uuid.uuid4(),
        inbound=outcome(InboundStats(appointments_found=3, cases_created=3)),
        cases=outcome(CasesStats(), success=False, error="PIMS down"),
        reconciliation=outcome(ReconciliationStats(), skipped=True, success=False),
        finished_at=ENDED,
        duration_ms=4000,
    )
    shown = full.result().wire()
    assert shown["success"] is False
    assert "durationMs" not in shown["inboundResult"]
    # What a client of the API (the demo, the console) reads is the same shape again.
    assert FullResult.model_validate(shown).wire() == shown


def record(status: RunStatus, **changes: object) -> RunRecord:
    values: dict[str, object] = {
        "id": uuid.uuid4(),
        "clinic_id": CLINIC,
        "sync_type": SyncType.INBOUND,
        "status": status,
        "triggered_by": Trigger.API,
        "started_at": datetime(2026, 1, 5, 12, tzinfo=UTC),
        **changes,
    }
    return RunRecord(**values)  # type: ignore[arg-type]


def test_run_summary_success_rate_and_full_progress() -> None:
    done = record(RunStatus.COMPLETED, completed_at=ENDED)
    summary = RunSummary.of(done).wire()
    assert summary["durationMs"] == 2000
    assert summary["startedAt"] == "2026-01-05T12:00:00.000Z"
    assert summary["stats"]["appointmentsFound"] == 0
    history = History.of([done, record(RunStatus.FAILED), record(RunStatus.IN_PROGRESS)])
    assert (history.total, history.success_rate) == (3, 50.0)
    assert History.of([record(RunStatus.IN_PROGRESS)]).success_rate is None
    full = record(RunStatus.IN_PROGRESS, sync_type=SyncType.FULL)
    phases = [
        record(RunStatus.COMPLETED, total_items=10, processed_items=10, progress_percentage=100),
        record(RunStatus.IN_PROGRESS, total_items=4, processed_items=1, progress_percentage=25),
    ]
    assert Progress.of(full, phases).wire() == {
        "percentage": 41,
        "processed": 11,
        "total": 14,
        "lastUpdate": None,
    }
    detail = RunDetail.of(full, phases).wire()
    assert list(detail)[:2] == ["success", "syncId"]
    assert "parentId" not in detail
    assert [list(phase)[-2:] for phase in detail["phases"]] == [["progress", "result"]] * 2


def test_every_json_answer_has_a_real_response_model() -> None:
    """The models are what the routes answer (and check), not only what the schema says."""
    routers = (clinic.router, scheduler.router, sync.router, system.router)
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    json_routes = [r for r in routes if r.response_class is not StreamingResponse]
    untyped = [r.path for r in json_routes if r.path != "/metrics" and r.response_model is None]
    assert untyped == []
    assert len(json_routes) > 10
    by_path = {(route.path, *route.methods): route.response_model for route in routes}
    assert by_path[("/api/sync/reconcile", "POST")] is ReconciliationResult
    assert by_path[("/api/sync/outbound/full", "POST")] is FullResult
    settings = load_settings(database_url="sqlite:///unused.db", encryption_key="k" * 40)
    answers = create_app(settings).openapi()["paths"]["/api/sync/full"]["post"]["responses"]
    assert [status for status in answers if status.startswith("2")] == ["200", "202", "207"]
