"""The stores' events: a case batch and a run's close write their events in their transaction.

Memory, SQLite and Postgres alike; the SQL-only tests show that a failure anywhere in
the transaction leaves neither the change nor its event.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import psycopg
import pytest
from sqlalchemy.engine import make_url

from pims_sync.adapters.sql import cases as sql_cases
from pims_sync.adapters.sql import runs as sql_runs
from pims_sync.domain.case_metadata import restore, soft_delete
from pims_sync.domain.outbox import EventType
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from pims_sync.ports.store import CaseWrite, StoredCase
from tests.contract.store_backends import (
    T0,
    Backend,
    backend,
    database_url,
    events_of,
    needs_sql,
    put,
    start,
    write,
)

__all__ = ["backend", "database_url"]


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


APPOINTMENT = {"id": "900001", "status": "Scheduled", "client": {"name": "Ana", "phone": "555"}}


def _meta(**changes: Any) -> dict[str, Any]:
    return {"pimsAppointment": dict(APPOINTMENT), "syncedAt": "2026-11-20T09:00:00.000Z"} | changes


async def _stored(backend: Backend, clinic: Any, external_id: str) -> StoredCase:
    return (await backend.cases.get_many(clinic_id=clinic, external_ids=[external_id]))[external_id]


# --- cases ---------------------------------------------------------------------------


async def test_a_new_case_is_created_with_ids_and_no_personal_data(backend: Backend) -> None:
    clinic = await backend.clinic()
    [written] = await put(backend.cases, clinic, write("idexx-neo:1", metadata=_meta()))

    [event] = await events_of(backend, clinic)

    assert (event.seq, event.type, event.subject_id) == (1, EventType.CASE_CREATED, str(written.id))
    assert event.payload == {
        "caseId": str(written.id),
        "externalId": "idexx-neo:1",
        "scheduledAt": "2026-11-20T09:00:00.000Z",
        "status": "draft",
        "type": "checkup",
    }


async def test_the_same_data_again_writes_no_event(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(backend.cases, clinic, write("a", metadata=_meta()))
    # Only the bookkeeping time moves: nothing a consumer could see changed.
    again = write("a", metadata=_meta(syncedAt="2026-11-21T09:00:00.000Z"))
    await put(backend.cases, clinic, again)

    assert [e.type for e in await events_of(backend, clinic)] == [EventType.CASE_CREATED]


async def test_an_update_names_the_changed_fields(backend: Backend) -> None:
    clinic = await backend.clinic()
    [first] = await put(backend.cases, clinic, write("a", metadata=_meta()))
    moved = dict(APPOINTMENT, status="Checked In")
    await put(
        backend.cases,
        clinic,
        write(
            "a", status="ongoing", at=T0 + timedelta(hours=1), metadata=_meta(pimsAppointment=moved)
        ),
    )

    [_, event] = await events_of(backend, clinic)

    assert (event.type, event.subject_id) == (EventType.CASE_UPDATED, str(first.id))
    assert event.payload["changedFields"] == [
        "status",
        "scheduledAt",
        "metadata.pimsAppointment.status",
    ]
    assert event.payload["status"] == "ongoing"
    assert event.payload["scheduledAt"] == "2026-11-20T10:00:00.000Z"


async def test_notes_arriving_enrich_the_case(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(backend.cases, clinic, write("a", metadata=_meta()))
    notes = {"id": "C1", "notesText": "Bella ate a sock", "fetchedAt": "2026-11-20T10:00:00.000Z"}
    await put(backend.cases, clinic, write("a", metadata=_meta(pimsConsultation=notes)))
    refetched = notes | {"fetchedAt": "2026-11-20T11:00:00.000Z"}
    await put(backend.cases, clinic, write("a", metadata=_meta(pimsConsultation=refetched)))

    events = await events_of(backend, clinic)

    assert [e.type for e in events] == [EventType.CASE_CREATED, EventType.CASE_ENRICHED]
    assert events[1].payload["changedFields"] == ["metadata.pimsConsultation"]
    assert "sock" not in str(events[1].payload)


async def test_soft_delete_and_restore_are_their_own_events(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(backend.cases, clinic, write("a", metadata=_meta()))
    deleted = soft_delete(_meta(), previous_status="draft", sync_id="run-1", at=T0)
    await put(backend.cases, clinic, write("a", status="reviewed", metadata=deleted))
    restored, status = restore(deleted, fallback_status="reviewed")
    await put(backend.cases, clinic, write("a", status=status, metadata=restored))

    events = await events_of(backend, clinic)

    assert [e.type for e in events] == [
        EventType.CASE_CREATED,
        EventType.CASE_DELETED,
        EventType.CASE_RESTORED,
    ]
    assert events[1].payload["changedFields"] == ["status", "metadata.reconciliation"]
    assert events[1].payload["status"] == "reviewed"
    assert events[2].payload["status"] == "draft"


async def test_one_batch_numbers_its_events_in_write_order(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(backend.cases, clinic, write("b", metadata=_meta()))
    batch = [write("a"), write("b", status="ongoing", metadata=_meta()), write("c")]
    await put(backend.cases, clinic, *batch)

    events = await events_of(backend, clinic)

    assert [(e.seq, e.type, e.payload["externalId"]) for e in events] == [
        (1, EventType.CASE_CREATED, "b"),
        (2, EventType.CASE_CREATED, "a"),
        (3, EventType.CASE_UPDATED, "b"),
        (4, EventType.CASE_CREATED, "c"),
    ]


async def test_a_failing_plan_writes_no_event(backend: Backend) -> None:
    clinic = await backend.clinic()

    def plan(_: Mapping[str, StoredCase]) -> list[CaseWrite]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await backend.cases.apply(clinic_id=clinic, external_ids=["a"], plan=plan)
    assert await events_of(backend, clinic) == []


async def test_a_batch_whose_events_fail_is_not_written(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_sql(backend)
    clinic = await backend.clinic()
    await put(backend.cases, clinic, write("a", metadata=_meta()))

    async def refuse(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the outbox refused")

    monkeypatch.setattr(sql_cases, "append_events", refuse)
    with pytest.raises(RuntimeError, match="outbox refused"):
        await put(backend.cases, clinic, write("a", status="ongoing", metadata=_meta()), write("b"))

    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a", "b"])
    assert set(stored) == {"a"}
    assert stored["a"].status == "draft"
    assert [e.type for e in await events_of(backend, clinic)] == [EventType.CASE_CREATED]


async def test_a_case_another_writer_created_meanwhile_has_its_stored_id_in_the_event(
    backend: Backend,
) -> None:
    # The events are derived while the upsert runs, assuming a new case keeps the write's
    # id; a writer that ignores the batch's locks (hand-written SQL) may create the case
    # first, and the upsert keeps that id: the event must name it (derived again).
    if not backend.url.startswith("postgresql"):
        pytest.skip("SQLite's write lock makes a second writer wait for the batch")
    clinic = await backend.clinic()
    theirs = uuid.uuid4()

    def plan(_: Mapping[str, StoredCase]) -> list[CaseWrite]:
        with psycopg.connect(_conninfo(backend.url), autocommit=True) as other:
            other.execute(
                "INSERT INTO cases (id, clinic_id, external_id, source) VALUES (%s, %s, 'a', 'x')",
                (theirs, clinic),
            )
        return [write("a", metadata=_meta())]

    [written] = await backend.cases.apply(clinic_id=clinic, external_ids=["a"], plan=plan)

    assert written.id == theirs
    [event] = await events_of(backend, clinic)
    assert (event.subject_id, event.payload["caseId"]) == (str(theirs), str(theirs))


# --- runs ----------------------------------------------------------------------------


async def _finish(backend: Backend, run_id: Any, status: RunStatus, **kwargs: Any) -> None:
    options: dict[str, Any] = {"error_message": None, "result": None, "at": T0}
    counters = RunCounters(appointments_found=5, cases_created=3)
    await backend.runs.finish(run_id=run_id, status=status, counters=counters, **(options | kwargs))


async def test_a_top_level_run_ends_with_one_event(backend: Backend) -> None:
    clinic = await backend.clinic()
    run = await start(backend.runs, clinic, sync_type=SyncType.FULL, triggered_by=Trigger.SCHEDULER)
    phase = await start(backend.runs, clinic, parent_id=run.id)
    await _finish(backend, phase.id, RunStatus.COMPLETED)
    await _finish(backend, run.id, RunStatus.COMPLETED)
    # A close repeated (a retry after a commit that did happen) adds nothing.
    await _finish(backend, run.id, RunStatus.COMPLETED)

    [event] = await events_of(backend, clinic)

    assert (event.type, event.subject_id) == (EventType.SYNC_COMPLETED, str(run.id))
    assert event.payload == {
        "runId": str(run.id),
        "syncType": "full",
        "triggeredBy": "scheduler",
        "status": "completed",
        "counters": {
            "appointmentsFound": 5,
            "casesCreated": 3,
            "casesUpdated": 0,
            "casesEnriched": 0,
            "casesDeleted": 0,
            "casesSkipped": 0,
            "casesFailed": 0,
        },
    }


async def test_a_failed_run_says_its_code_not_its_message(backend: Backend) -> None:
    clinic = await backend.clinic()
    run = await start(backend.runs, clinic)
    message = "login failed for ana@example.com"
    await _finish(
        backend, run.id, RunStatus.FAILED, error_message=message, error_code="pims_auth_failed"
    )

    [event] = await events_of(backend, clinic)

    assert event.type is EventType.SYNC_FAILED
    assert event.payload["errorCode"] == "pims_auth_failed"
    assert event.payload["status"] == "failed"
    assert "example.com" not in str(event.payload)


async def test_a_stale_run_taken_over_fails_as_abandoned(backend: Backend) -> None:
    clinic = await backend.clinic()
    old = await start(backend.runs, clinic)
    await start(backend.runs, clinic, T0 + timedelta(minutes=2, seconds=1))

    [event] = await events_of(backend, clinic)

    assert (event.type, event.subject_id) == (EventType.SYNC_FAILED, str(old.id))
    assert event.payload["errorCode"] == "abandoned"


async def test_a_close_whose_event_fails_leaves_the_run_open(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    needs_sql(backend)
    clinic = await backend.clinic()
    run = await start(backend.runs, clinic)

    async def refuse(*_: Any, **__: Any) -> Any:
        raise RuntimeError("the outbox refused")

    monkeypatch.setattr(sql_runs, "append_events", refuse)
    with pytest.raises(RuntimeError, match="outbox refused"):
        await _finish(backend, run.id, RunStatus.COMPLETED)

    got = await backend.runs.get(clinic_id=clinic, run_id=run.id)
    assert got is not None
    assert got.status is RunStatus.IN_PROGRESS
    assert await events_of(backend, clinic) == []
