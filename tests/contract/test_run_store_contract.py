"""RunStore contract: memory, SQLite and Postgres behave the same."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.runs import SqlRunStore
from pims_sync.adapters.sql.tables import case_sync_audits
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from pims_sync.errors import RunInProgressError
from tests.contract.store_backends import (
    T0,
    Backend,
    backend,
    database_url,
    finished_run,
    needs_sql,
    start,
)

__all__ = ["backend", "database_url"]


async def test_start_creates_a_live_run_with_its_heartbeat(backend: Backend) -> None:
    clinic = await backend.clinic()

    run = await start(backend.runs, clinic, sync_type=SyncType.FULL, triggered_by=Trigger.CLI)

    got = await backend.runs.get(clinic_id=clinic, run_id=run.id)
    assert got == run
    assert got is not None
    assert (got.status, got.sync_type, got.triggered_by) == (
        RunStatus.IN_PROGRESS,
        SyncType.FULL,
        Trigger.CLI,
    )
    assert (got.started_at, got.heartbeat_at, got.parent_id, got.completed_at) == (
        T0,
        T0,
        None,
        None,
    )
    assert got.counters == RunCounters()
    assert await backend.runs.active(clinic_id=clinic) == run


async def test_a_second_run_is_refused_with_the_live_runs_id(backend: Backend) -> None:
    clinic, other = await backend.clinic(), await backend.clinic()
    live = await start(backend.runs, clinic)

    with pytest.raises(RunInProgressError) as raised:
        await start(backend.runs, clinic, T0 + timedelta(seconds=30), sync_type=SyncType.FULL)

    assert raised.value.run_id == live.id
    assert (await start(backend.runs, other)).clinic_id == other  # another clinic is free
    phases = [
        await start(backend.runs, clinic, T0 + timedelta(seconds=s), parent_id=live.id)
        for s in (1, 2)
    ]
    assert [p.status for p in phases] == [RunStatus.IN_PROGRESS] * 2
    assert await backend.runs.active(clinic_id=clinic) == live


async def test_a_stale_run_is_abandoned_and_the_new_one_starts(backend: Backend) -> None:
    clinic = await backend.clinic()
    old = await start(backend.runs, clinic)
    later = T0 + timedelta(minutes=2, seconds=1)

    new = await start(backend.runs, clinic, later)

    abandoned = await backend.runs.get(clinic_id=clinic, run_id=old.id)
    assert abandoned is not None
    assert (abandoned.status, abandoned.error_message) == (RunStatus.FAILED, "abandoned")
    assert abandoned.completed_at == later
    assert await backend.runs.active(clinic_id=clinic) == new


async def test_progress_and_heartbeat_keep_a_run_alive(backend: Backend) -> None:
    clinic = await backend.clinic()
    run = await start(backend.runs, clinic)
    at = T0 + timedelta(minutes=1, seconds=30)

    await backend.runs.progress(
        run_id=run.id, total_items=10, processed_items=4, percentage=40, at=at
    )
    with pytest.raises(RunInProgressError):
        await start(backend.runs, clinic, T0 + timedelta(minutes=3))
    await backend.runs.heartbeat(run_id=run.id, at=T0 + timedelta(minutes=3))
    with pytest.raises(RunInProgressError):
        await start(backend.runs, clinic, T0 + timedelta(minutes=4, seconds=30))

    got = await backend.runs.get(clinic_id=clinic, run_id=run.id)
    assert got is not None
    assert (got.total_items, got.processed_items, got.progress_percentage) == (10, 4, 40)
    assert (got.last_progress_update, got.heartbeat_at) == (at, T0 + timedelta(minutes=3))
    assert got.status is RunStatus.IN_PROGRESS


async def test_staleness_is_configurable(backend: Backend) -> None:
    clinic = await backend.clinic()
    patient = backend.run_store(stale_after=timedelta(minutes=30))
    eager = backend.run_store(stale_after=timedelta(seconds=10))
    old = await start(patient, clinic)

    with pytest.raises(RunInProgressError):
        await start(patient, clinic, T0 + timedelta(minutes=10))
    new = await start(eager, clinic, T0 + timedelta(seconds=11))

    assert new.id != old.id
    got = await eager.get(clinic_id=clinic, run_id=old.id)
    assert got is not None
    assert got.error_message == "abandoned"


async def test_finish_records_everything_and_frees_the_clinic(backend: Backend) -> None:
    clinic = await backend.clinic()
    run = await start(backend.runs, clinic)
    counters = RunCounters(1, 2, 3, 4, 5, 6, 7)
    result = {"success": False, "errors": [{"appointmentId": "9", "message": "Ñ 404"}]}
    done = T0 + timedelta(minutes=1)

    await backend.runs.finish(
        run_id=run.id,
        status=RunStatus.FAILED,
        counters=counters,
        error_message="PIMS unavailable",
        result=result,
        at=done,
    )

    got = await backend.runs.get(clinic_id=clinic, run_id=run.id)
    assert got is not None
    assert (got.status, got.counters, got.error_message) == (
        RunStatus.FAILED,
        counters,
        "PIMS unavailable",
    )
    assert (got.result, got.completed_at, got.finished) == (result, done, True)
    assert await backend.runs.active(clinic_id=clinic) is None
    assert (await start(backend.runs, clinic, done)).status is RunStatus.IN_PROGRESS


async def test_history_is_newest_first_top_level_and_filtered(backend: Backend) -> None:
    clinic, other = await backend.clinic(), await backend.clinic()
    kinds = [SyncType.INBOUND, SyncType.FULL, SyncType.INBOUND, SyncType.CASES]
    ids = [
        await finished_run(backend.runs, clinic, T0 + timedelta(hours=i), kind, ok=i != 2)
        for i, kind in enumerate(kinds)
    ]
    await start(backend.runs, clinic, T0 + timedelta(hours=1, minutes=1), parent_id=ids[1])
    await finished_run(backend.runs, other, T0 + timedelta(hours=9), SyncType.INBOUND, ok=True)

    history = await backend.runs.history(clinic_id=clinic)
    inbound = await backend.runs.history(clinic_id=clinic, sync_type=SyncType.INBOUND)
    failed = await backend.runs.history(clinic_id=clinic, status=RunStatus.FAILED)
    limited = await backend.runs.history(clinic_id=clinic, limit=2)

    assert [r.id for r in history] == ids[::-1]
    assert [r.id for r in inbound] == [ids[2], ids[0]]
    assert [r.id for r in failed] == [ids[2]]
    assert [r.id for r in limited] == [ids[3], ids[2]]


async def test_runs_started_at_the_same_instant_keep_their_order(backend: Backend) -> None:
    clinic = await backend.clinic()
    ids = [
        await finished_run(backend.runs, clinic, T0, SyncType.INBOUND, ok=True) for _ in range(3)
    ]

    assert [r.id for r in await backend.runs.history(clinic_id=clinic)] == ids[::-1]


async def test_runs_are_scoped_and_children_come_in_start_order(backend: Backend) -> None:
    clinic, other = await backend.clinic(), await backend.clinic()
    full = await start(backend.runs, clinic, sync_type=SyncType.FULL)
    phases = [
        await start(
            backend.runs, clinic, T0 + timedelta(seconds=s), sync_type=kind, parent_id=full.id
        )
        for s, kind in ((1, SyncType.INBOUND), (5, SyncType.CASES), (9, SyncType.RECONCILIATION))
    ]

    assert await backend.runs.get(clinic_id=other, run_id=full.id) is None
    assert await backend.runs.children(clinic_id=other, parent_id=full.id) == []
    assert await backend.runs.active(clinic_id=other) is None
    assert await backend.runs.history(clinic_id=other) == []
    children = await backend.runs.children(clinic_id=clinic, parent_id=full.id)
    assert [c.id for c in children] == [p.id for p in phases]
    assert [c.sync_type for c in children] == [
        SyncType.INBOUND,
        SyncType.CASES,
        SyncType.RECONCILIATION,
    ]


# --- concurrency on the real databases (two engines: two processes) -----------------


async def test_concurrent_starts_let_exactly_one_run_in(backend: Backend) -> None:
    needs_sql(backend)
    clinic = await backend.clinic()
    engines = [create_async_db_engine(backend.url) for _ in range(4)]
    try:
        outcomes = await asyncio.gather(
            *(start(SqlRunStore(engine), clinic) for engine in engines), return_exceptions=True
        )
    finally:
        for engine in engines:
            await engine.dispose()

    started = [o for o in outcomes if not isinstance(o, BaseException)]
    refused = [o for o in outcomes if isinstance(o, RunInProgressError)]
    assert len(started) == 1
    assert len(refused) == 3
    assert {r.run_id for r in refused} == {started[0].id}


async def test_the_database_itself_refuses_a_second_live_run(backend: Backend) -> None:
    needs_sql(backend)
    assert backend.engine is not None
    clinic = await backend.clinic()
    await start(backend.runs, clinic)
    row = {"clinic_id": clinic, "sync_type": "full", "status": "in_progress", "started_at": T0}

    with pytest.raises(IntegrityError):
        async with backend.engine.begin() as conn:
            await conn.execute(insert(case_sync_audits).values(id=uuid.uuid4(), **row))


async def test_closing_a_run_outlasts_a_short_database_outage(
    backend: Backend, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A restarting Postgres refuses a few writes: the close is retried, the row ends failed."""
    from pims_sync.adapters.sql import runs as module
    from pims_sync.errors import StorageUnavailableError

    needs_sql(backend)
    clinic = await backend.clinic()
    run = await start(backend.runs, clinic)
    monkeypatch.setattr(module, "CLOSE_RETRY_DELAYS", (0.01, 0.01, 0.01))
    real_close, refused = module.SqlRunStore._close, [2]

    async def close(self: SqlRunStore, run_id: uuid.UUID, *args: Any, **kwargs: Any) -> None:
        if refused[0]:
            refused[0] -= 1
            raise StorageUnavailableError("the database could not close the run: restarting")
        await real_close(self, run_id, *args, **kwargs)

    monkeypatch.setattr(module.SqlRunStore, "_close", close)
    await backend.runs.finish(
        run_id=run.id,
        status=RunStatus.FAILED,
        counters=RunCounters(),
        error_message="the PIMS went away",
        result=None,
        at=T0,
    )
    got = await backend.runs.get(clinic_id=clinic, run_id=run.id)
    assert got is not None
    assert (got.status, got.error_message) == (RunStatus.FAILED, "the PIMS went away")
    refused[0] = 9  # longer than the retries: the caller hears of it
    with pytest.raises(StorageUnavailableError):
        await backend.runs.finish(
            run_id=run.id,
            status=RunStatus.COMPLETED,
            counters=RunCounters(),
            error_message=None,
            result=None,
            at=T0,
        )
