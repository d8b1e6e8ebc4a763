"""SyncService: audit rows, full runs, one login, timeout, cancellation, concurrency, shutdown."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager
from datetime import timedelta
from uuid import uuid4

import pytest

from pims_sync.domain.runs import RunStatus, SyncType, Trigger
from pims_sync.errors import (
    InvalidInputError,
    NotFoundError,
    PimsAuthError,
    PimsUnavailableError,
    RunInProgressError,
    ServiceStoppingError,
    SyncTimeoutError,
)
from pims_sync.sync.events import RunEvent
from pims_sync.sync.outcomes import FullOutcome, PhaseOutcome
from pims_sync.sync.service import SyncRequest

from .conftest import CLINIC_ID, TODAY, World, appointment, consultation, make_world


def full_world() -> World:
    return make_world(
        appointment("1", day=TODAY - timedelta(days=2), consultation_id="c1"),
        appointment("2", hour=10, consultation_id="c2"),
        appointment("3", day=TODAY + timedelta(days=3)),
        consultations=(consultation("c1"), consultation("c2")),
    )


def hold_calendar(world: World) -> asyncio.Event:
    """Make calendar fetches wait until the returned event is set."""
    release = asyncio.Event()
    session = world.provider.session

    @asynccontextmanager
    async def slow_session(login):  # type: ignore[no-untyped-def]
        async with session(login) as inner:
            fetch = inner.fetch_appointments

            async def fetch_appointments(start, end):  # type: ignore[no-untyped-def]
                await release.wait()
                return await fetch(start, end)

            inner.fetch_appointments = fetch_appointments  # type: ignore[method-assign]
            yield inner

    world.provider.session = slow_session  # type: ignore[method-assign]
    return release


async def test_single_run_audit_row_is_completed_with_counters_and_result(world: World) -> None:
    outcome = await world.run(SyncType.INBOUND, triggered_by=Trigger.CLI)
    assert isinstance(outcome, PhaseOutcome)
    row = await world.runs.get(clinic_id=CLINIC_ID, run_id=outcome.run_id)
    assert row is not None
    assert (row.status, row.sync_type, row.triggered_by) == ("completed", "inbound", "cli")
    assert (row.counters.appointments_found, row.counters.cases_created) == (3, 3)
    assert row.result == outcome.result().wire()
    assert row.progress_percentage == 100
    assert row.error_message is None


async def test_full_run_logs_in_once_and_writes_a_row_per_phase() -> None:
    world = full_world()
    outcome = await world.run(SyncType.FULL)
    assert isinstance(outcome, FullOutcome)
    assert world.provider.logins == 1
    assert world.provider.calls["calendar"] == 1  # reconciliation reused inbound's calendar
    result = outcome.result().wire()
    assert result["success"] is True
    assert set(result) == {
        "success",
        "syncId",
        "inboundResult",
        "casesResult",
        "reconciliationResult",
        "durationMs",
        "timestamp",
    }
    assert result["inboundResult"]["stats"]["casesCreated"] == 3
    assert result["casesResult"]["stats"]["casesEnriched"] == 2
    assert result["reconciliationResult"]["stats"]["casesChecked"] == 2
    children = await world.runs.children(clinic_id=CLINIC_ID, parent_id=outcome.run_id)
    assert [c.sync_type for c in children] == ["inbound", "cases", "reconciliation"]
    assert all(c.status is RunStatus.COMPLETED and c.progress_percentage == 100 for c in children)
    assert [str(c.id) for c in children] == [
        result[k]["syncId"] for k in ("inboundResult", "casesResult", "reconciliationResult")
    ]
    top = await world.runs.get(clinic_id=CLINIC_ID, run_id=outcome.run_id)
    assert top is not None
    assert top.status is RunStatus.COMPLETED
    assert top.parent_id is None
    assert top.progress_percentage == 100  # the full row ends at 100 % too, not only its phases


async def test_full_run_skips_reconciliation_when_the_pims_failed_inbound() -> None:
    world = full_world()
    world.provider.fail_next("calendar", PimsUnavailableError("down", endpoint="calendar"))
    outcome = await world.run(SyncType.FULL)
    assert isinstance(outcome, FullOutcome)
    assert outcome.success is False
    result = outcome.result().wire()
    assert result["inboundResult"]["error"] == "down"
    assert result["reconciliationResult"]["skipped"] is True
    assert "inbound failed" in result["reconciliationResult"]["error"]
    top = await world.runs.get(clinic_id=CLINIC_ID, run_id=outcome.run_id)
    assert top is not None
    assert top.status is RunStatus.FAILED
    assert top.error_message
    children = await world.runs.children(clinic_id=CLINIC_ID, parent_id=outcome.run_id)
    assert [c.status for c in children] == ["failed", "completed", "failed"]


async def test_failed_login_fails_the_full_run_as_a_whole() -> None:
    world = full_world()
    world.provider.fail_next("login", PimsAuthError("Invalid username or password"))
    with pytest.raises(PimsAuthError) as raised:
        await world.run(SyncType.FULL)
    sync_id = raised.value.context["sync_id"]
    run = (await world.runs.history(clinic_id=CLINIC_ID))[0]
    assert str(run.id) == sync_id
    assert run.status is RunStatus.FAILED
    assert run.error_message == "PIMS login failed: Invalid username or password"


async def test_timeout_stops_the_run_and_marks_it_failed() -> None:
    world = make_world(appointment("1"), timeout=0.05)
    hold_calendar(world)
    with pytest.raises(SyncTimeoutError) as raised:
        await world.run(SyncType.FULL)
    assert raised.value.context["sync_id"]
    rows = await world.runs.history(clinic_id=CLINIC_ID)
    assert rows[0].status is RunStatus.FAILED
    assert rows[0].error_message == "sync timed out after 50 ms"
    children = await world.runs.children(clinic_id=CLINIC_ID, parent_id=rows[0].id)
    assert [(c.status, c.error_message) for c in children] == [
        ("failed", "sync timed out after 50 ms")
    ]
    assert world.provider.open_sessions == 0


async def test_cancelled_run_is_marked_failed() -> None:
    world = make_world(appointment("1"))
    hold_calendar(world)
    handle = await world.service.start(SyncRequest(CLINIC_ID, SyncType.INBOUND))
    await asyncio.sleep(0.01)
    handle.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle.task
    row = await world.runs.get(clinic_id=CLINIC_ID, run_id=handle.run_id)
    assert row is not None
    assert (row.status, row.error_message) == ("failed", "cancelled")


async def test_second_start_for_the_clinic_gets_the_live_run_id() -> None:
    world = make_world(appointment("1"))
    release = hold_calendar(world)
    handle = await world.service.start(SyncRequest(CLINIC_ID, SyncType.INBOUND))
    with pytest.raises(RunInProgressError) as raised:
        await world.service.start(SyncRequest(CLINIC_ID, SyncType.CASES))
    assert raised.value.run_id == handle.run_id
    release.set()
    assert (await handle.task).success is True
    assert (await world.run(SyncType.INBOUND)).success is True  # type: ignore[attr-defined]


async def test_shutdown_interrupts_running_runs_and_refuses_new_ones() -> None:
    world = make_world(appointment("1"))
    hold_calendar(world)
    handle = await world.service.start(SyncRequest(CLINIC_ID, SyncType.INBOUND))
    await world.service.shutdown(grace_seconds=0.01)
    assert handle.task.cancelled()
    row = await world.runs.get(clinic_id=CLINIC_ID, run_id=handle.run_id)
    assert row is not None
    assert (row.status, row.error_message) == ("failed", "interrupted by shutdown")
    with pytest.raises(ServiceStoppingError):
        await world.service.start(SyncRequest(CLINIC_ID, SyncType.INBOUND))


async def test_unknown_clinic_and_bad_dates_are_refused(world: World) -> None:
    with pytest.raises(NotFoundError, match="Clinic not found"):
        await world.service.start(SyncRequest(uuid4(), SyncType.INBOUND))
    with pytest.raises(InvalidInputError):
        await world.service.start(
            SyncRequest(
                CLINIC_ID, SyncType.INBOUND, start_date=TODAY, end_date=TODAY - timedelta(1)
            )
        )
    assert await world.runs.history(clinic_id=CLINIC_ID) == []


async def test_events_replay_then_end_with_completed(world: World) -> None:
    outcome = await world.run(SyncType.INBOUND)
    stream = world.service.events.subscribe(outcome.run_id)  # type: ignore[attr-defined]
    assert stream is not None
    events: list[RunEvent] = [event async for event in stream]
    types = [e.type for e in events]
    assert types[0] == "log"
    assert types[-1] == "completed"
    assert {"phase", "progress", "log"} <= set(types)
    messages = [e.data["message"] for e in events if e.type == "log"]
    assert "Authenticated with Fake PIMS" in messages
    assert any(m.startswith("Found 3 appointments") for m in messages)
    assert "Rex" not in str([e.data for e in events if e.type != "completed"])
    progress = [e.data["percentage"] for e in events if e.type == "progress"]
    assert progress[-1] == 100
    assert world.service.events.subscribe(uuid4()) is None


async def test_live_subscriber_follows_until_the_end() -> None:
    world = make_world(appointment("1"))
    release = hold_calendar(world)
    handle = await world.service.start(SyncRequest(CLINIC_ID, SyncType.INBOUND))
    stream = world.service.events.subscribe(handle.run_id)
    assert stream is not None

    async def collect() -> list[str]:
        return [event.type async for event in stream]

    collector = asyncio.create_task(collect())
    await asyncio.sleep(0.01)
    release.set()
    await handle.task
    assert (await asyncio.wait_for(collector, 1))[-1] == "completed"


async def test_metrics_are_fed(world: World) -> None:
    await world.run(SyncType.INBOUND)
    text = world.metrics.render()[0].decode()
    assert 'pims_sync_runs_total{outcome="completed",type="inbound"} 1.0' in text
    assert 'pims_sync_cases_written_total{operation="created"} 3.0' in text
    assert 'pims_sync_phase_duration_seconds_count{phase="inbound"} 1.0' in text
    assert "pims_sync_active_runs 0.0" in text


async def test_every_log_line_carries_the_run_context(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from pims_sync.logs import ContextFilter

    handler_filter = ContextFilter()
    caplog.handler.addFilter(handler_filter)
    with caplog.at_level(logging.INFO, logger="pims_sync"):
        outcome = await world.run(SyncType.INBOUND)
    records = [r for r in caplog.records if r.name.startswith("pims_sync.sync")]
    assert records
    for record in records:
        assert record.sync_id == str(outcome.run_id)  # type: ignore[attr-defined]
        assert record.clinic_id == str(CLINIC_ID)  # type: ignore[attr-defined]
        assert record.phase == "inbound"  # type: ignore[attr-defined]
        assert "Rex" not in record.getMessage()
        assert "555" not in record.getMessage()


async def test_the_top_row_beats_while_phases_run(monkeypatch: pytest.MonkeyPatch) -> None:
    from pims_sync.sync import service as module

    monkeypatch.setattr(module, "HEARTBEAT_SECONDS", 0.005)
    world = make_world(appointment("1"))
    release = hold_calendar(world)
    handle = await world.service.start(SyncRequest(CLINIC_ID, SyncType.FULL))
    world.clock.at += timedelta(minutes=5)
    # A beat every 5 ms; on a loaded machine the first may come late, so wait up to 5 s.
    beats = []
    for _ in range(500):
        await asyncio.sleep(0.01)
        row = await world.runs.get(clinic_id=CLINIC_ID, run_id=handle.run_id)
        assert row is not None
        beats.append(row.heartbeat_at)
        if row.heartbeat_at == world.clock.at:
            break
    assert beats[-1] == world.clock.at
    release.set()
    await handle.task


async def test_a_refused_reconciliation_fails_only_its_phase_of_a_full_run() -> None:
    world = full_world()
    await world.run(SyncType.INBOUND, start_date=TODAY - timedelta(days=7))
    world.provider.appointments.clear()
    outcome = await world.run(SyncType.FULL)
    assert isinstance(outcome, FullOutcome)
    result = outcome.result().wire()
    assert result["success"] is False
    assert result["inboundResult"]["success"] is True
    assert "force" in result["reconciliationResult"]["error"]
    assert all("reconciliation" not in c.metadata for c in await world.all_cases())


async def test_single_phase_guard_error_carries_the_sync_id(world: World) -> None:
    from pims_sync.errors import ReconciliationGuardError

    await world.run(SyncType.INBOUND)
    world.provider.appointments.clear()
    with pytest.raises(ReconciliationGuardError) as raised:
        await world.run(SyncType.RECONCILIATION)
    row = (await world.runs.history(clinic_id=CLINIC_ID, limit=1))[0]
    assert raised.value.context["sync_id"] == str(row.id)
    assert row.status is RunStatus.FAILED
    assert row.error_message is not None
    assert "force" in row.error_message


async def test_a_run_cancelled_before_its_first_step_is_closed_too() -> None:
    world = make_world(appointment("1"))
    handle = await world.service.start(SyncRequest(CLINIC_ID, SyncType.INBOUND))
    handle.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handle.task
    await asyncio.sleep(0.01)
    row = await world.runs.get(clinic_id=CLINIC_ID, run_id=handle.run_id)
    assert row is not None
    assert (row.status, row.error_message) == ("failed", "cancelled")
