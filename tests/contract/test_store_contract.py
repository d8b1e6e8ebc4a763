"""CaseStore and RunStore contract: memory, SQLite and Postgres behave the same."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.stores import MemoryCaseStore, MemoryRunStore
from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.runs import SqlRunStore
from pims_sync.adapters.sql.tables import case_sync_audits
from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger
from pims_sync.errors import RunInProgressError
from pims_sync.ports.store import CaseStore, CaseWrite, PatientRow, RunStore, StoredCase

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MEMORY = "memory://"


@dataclass
class Backend:
    """The stores under test, and how to make clinics and other run stores for them."""

    url: str
    engine: AsyncEngine | None
    cases: MemoryCaseStore | SqlCaseStore
    runs: MemoryRunStore | SqlRunStore

    async def clinic(self) -> UUID:
        """A new clinic (a row on SQL: the stores' foreign keys need it)."""
        if self.engine is None:
            return uuid.uuid4()
        return (await SqlClinicStore(self.engine).add(name="Happy Paws")).id

    def run_store(self, stale_after: timedelta) -> MemoryRunStore | SqlRunStore:
        """Another run store over the same data, with its own staleness."""
        if isinstance(self.runs, MemoryRunStore):
            return _shared(self.runs, stale_after)
        assert self.engine is not None
        return SqlRunStore(self.engine, stale_after=stale_after)

    @property
    def sql(self) -> bool:
        """Whether a real database is behind the stores."""
        return self.engine is not None


def _shared(store: MemoryRunStore, stale_after: timedelta) -> MemoryRunStore:
    other = MemoryRunStore(stale_after=stale_after)
    other._runs = store._runs  # same rows, other staleness (test only)
    return other


@pytest.fixture(params=["memory", "sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest) -> str:
    """Overrides conftest's: memory joins SQLite and Postgres."""
    if request.param == "memory":
        return MEMORY
    return str(request.getfixturevalue(f"{request.param}_url"))


@pytest.fixture
async def backend(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Backend]:
    """Stores of each kind, on an empty (migrated) database."""
    if database_url == MEMORY:
        yield Backend(MEMORY, None, MemoryCaseStore(), MemoryRunStore())
        return
    url = str(request.getfixturevalue("migrated_database_url"))
    engine = create_async_db_engine(url)
    try:
        yield Backend(url, engine, SqlCaseStore(engine), SqlRunStore(engine))
    finally:
        await engine.dispose()


def write(
    external_id: str,
    *,
    at: datetime | None = T0,
    metadata: Mapping[str, Any] | None = None,
    source: str = "pims:idexx-neo",
    patient: PatientRow | None = None,
    status: str = "draft",
    case_id: UUID | None = None,
) -> CaseWrite:
    """One case write with sensible defaults."""
    return CaseWrite(
        id=case_id or uuid.uuid4(),
        external_id=external_id,
        source=source,
        status=status,
        type="checkup",
        scheduled_at=at,
        metadata=metadata if metadata is not None else {"n": external_id},
        patient=patient,
    )


async def put(store: CaseStore, clinic_id: UUID, *writes: CaseWrite) -> list[CaseWrite]:
    """Store these writes whatever is stored."""
    ids = [w.external_id for w in writes]
    return await store.apply(clinic_id=clinic_id, external_ids=ids, plan=lambda _: list(writes))


# --- cases -----------------------------------------------------------------------------


async def test_apply_creates_then_updates_and_the_plan_sees_the_stored_rows(
    backend: Backend,
) -> None:
    clinic = await backend.clinic()
    first = write("a", metadata={"pimsAppointment": {"id": 1}})
    await put(backend.cases, clinic, first)
    seen: list[Mapping[str, StoredCase]] = []

    def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
        seen.append(stored)
        merged = {**stored["a"].metadata, "enrichedAt": "now"}
        return [write("a", metadata=merged, status="ongoing", case_id=stored["a"].id), write("b")]

    written = await backend.cases.apply(clinic_id=clinic, external_ids=["a", "b"], plan=plan)

    assert set(seen[0]) == {"a"}
    assert seen[0]["a"].id == first.id
    assert seen[0]["a"].metadata == {"pimsAppointment": {"id": 1}}
    assert [w.external_id for w in written] == ["a", "b"]
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a", "b", "zzz"])
    assert set(stored) == {"a", "b"}
    assert stored["a"].status == "ongoing"
    assert stored["a"].metadata == {"pimsAppointment": {"id": 1}, "enrichedAt": "now"}
    assert stored["a"].clinic_id == clinic
    assert stored["a"].updated_at is not None
    assert stored["a"].updated_at.tzinfo is not None


async def test_an_update_keeps_the_stored_id(backend: Backend) -> None:
    clinic = await backend.clinic()
    original = (await put(backend.cases, clinic, write("a")))[0]

    again = await put(backend.cases, clinic, write("a", status="completed"))

    assert again[0].id == original.id
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a"])
    assert stored["a"].id == original.id
    assert stored["a"].status == "completed"


async def test_a_failing_plan_writes_nothing(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(backend.cases, clinic, write("a", metadata={"v": 1}))

    def plan(_: Mapping[str, StoredCase]) -> list[CaseWrite]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await backend.cases.apply(clinic_id=clinic, external_ids=["a"], plan=plan)
    assert await backend.cases.apply(clinic_id=clinic, external_ids=[], plan=lambda _: []) == []

    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a"])
    assert stored["a"].metadata == {"v": 1}


async def test_the_last_write_of_an_external_id_in_a_batch_wins(backend: Backend) -> None:
    clinic = await backend.clinic()

    written = await put(
        backend.cases, clinic, write("a", metadata={"v": 1}), write("a", metadata={"v": 2})
    )

    assert [w.metadata for w in written] == [{"v": 2}]
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a"])
    assert stored["a"].metadata == {"v": 2}


async def test_clinics_never_see_or_change_each_others_cases(backend: Backend) -> None:
    clinic_a, clinic_b = await backend.clinic(), await backend.clinic()
    await put(
        backend.cases, clinic_a, write("same", metadata={"owner": "A"}, patient=PatientRow("Rex"))
    )

    seen: list[Mapping[str, StoredCase]] = []

    def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
        seen.append(stored)
        return [write("same", metadata={"owner": "B"}, patient=PatientRow("Tom"))]

    await backend.cases.apply(clinic_id=clinic_b, external_ids=["same"], plan=plan)

    assert seen == [{}]
    a = await backend.cases.get_many(clinic_id=clinic_a, external_ids=["same"])
    b = await backend.cases.get_many(clinic_id=clinic_b, external_ids=["same"])
    assert a["same"].metadata == {"owner": "A"}
    assert b["same"].metadata == {"owner": "B"}
    assert a["same"].id != b["same"].id
    assert await backend.cases.patient_of(clinic_id=clinic_a, external_id="same") == PatientRow(
        "Rex"
    )
    assert await backend.cases.patient_of(clinic_id=clinic_b, external_id="same") == PatientRow(
        "Tom"
    )
    between_a = await backend.cases.cases_between(
        clinic_id=clinic_a, start=T0 - timedelta(days=1), end=T0 + timedelta(days=1)
    )
    assert [(c.clinic_id, c.metadata) for c in between_a] == [(clinic_a, {"owner": "A"})]


async def test_patients_are_upserted_and_none_leaves_them_alone(backend: Backend) -> None:
    clinic = await backend.clinic()
    rex = PatientRow("Rex", "canine", "Beagle", "Ann Lee", "+1 555 0100", "ann@example.com")
    await put(backend.cases, clinic, write("a", patient=rex), write("b"))
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="a") == rex
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="b") is None

    await put(backend.cases, clinic, write("a", status="ongoing"))  # patient None
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="a") == rex

    moved = PatientRow("Rex", "canine", "Beagle", "Ann Lee", None, "ann@new.example")
    await put(backend.cases, clinic, write("a", patient=moved))
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="a") == moved


async def test_metadata_round_trips_as_given(backend: Backend) -> None:
    clinic = await backend.clinic()
    metadata = {
        "pimsAppointment": {"id": "123", "patient": {"name": "Café Ñandú 🐾", "weight": 4.25}},
        "entities": {"owner": {"phones": ["+1 555 0100", None]}, "flags": [True, False]},
        "callIntelligence": {"unknown": {"deep": {"deeper": [1, {"x": "日本語"}]}}},
        "empty": {},
        "n": None,
    }

    await put(backend.cases, clinic, write("a", metadata=metadata))

    stored = (await backend.cases.get_many(clinic_id=clinic, external_ids=["a"]))["a"]
    assert stored.metadata == metadata
    assert isinstance(stored.metadata, dict)


async def test_cases_between_is_half_open_by_prefix_and_in_utc(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(
        backend.cases,
        clinic,
        write("at-start", at=T0),
        write("inside", at=T0 + timedelta(hours=5)),
        write("at-end", at=T0 + timedelta(days=1)),
        write("before", at=T0 - timedelta(microseconds=1)),
        write("unscheduled", at=None),
        write("manual", at=T0 + timedelta(hours=1), source="manual"),
        write("like", at=T0 + timedelta(hours=1), source="pimsX"),
    )
    pacific = ZoneInfo("America/Los_Angeles")

    found = await backend.cases.cases_between(
        clinic_id=clinic,
        start=T0.astimezone(pacific),
        end=(T0 + timedelta(days=1)).astimezone(pacific),
    )

    assert sorted(c.external_id for c in found) == ["at-start", "inside"]
    assert all(
        c.scheduled_at is not None and c.scheduled_at.utcoffset() == timedelta(0) for c in found
    )
    assert {c.scheduled_at for c in found} == {T0, T0 + timedelta(hours=5)}
    every = await backend.cases.cases_between(
        clinic_id=clinic, start=T0, end=T0 + timedelta(hours=2), source_prefix=""
    )
    assert sorted(c.external_id for c in every) == ["at-start", "like", "manual"]


async def test_a_batch_larger_than_the_parameter_limit(backend: Backend) -> None:
    clinic = await backend.clinic()
    ids = [f"appt-{i}" for i in range(4000)]  # 4000 × 10 parameters > SQLite's 32766
    writes = [write(i, patient=PatientRow(i)) for i in ids]

    await put(backend.cases, clinic, *writes)
    updated = await backend.cases.apply(
        clinic_id=clinic,
        external_ids=ids,
        plan=lambda stored: [write(i, metadata={**stored[i].metadata, "u": 1}) for i in ids],
    )

    assert len(updated) == 4000
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=ids)
    assert len(stored) == 4000
    assert stored["appt-3999"].metadata == {"n": "appt-3999", "u": 1}
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="appt-0") == PatientRow(
        "appt-0"
    )


# --- runs ------------------------------------------------------------------------------


async def start(runs: RunStore, clinic: UUID, at: datetime = T0, **kwargs: Any) -> RunRecord:
    """Start an inbound run from the API unless told otherwise."""
    options: dict[str, Any] = {"sync_type": SyncType.INBOUND, "triggered_by": Trigger.API}
    return await runs.start(clinic_id=clinic, at=at, **(options | kwargs))


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


async def _finished(runs: RunStore, clinic: UUID, at: datetime, kind: SyncType, ok: bool) -> UUID:
    run = await start(runs, clinic, at, sync_type=kind)
    status = RunStatus.COMPLETED if ok else RunStatus.FAILED
    await runs.finish(
        run_id=run.id, status=status, counters=RunCounters(), error_message=None, result=None, at=at
    )
    return run.id


async def test_history_is_newest_first_top_level_and_filtered(backend: Backend) -> None:
    clinic, other = await backend.clinic(), await backend.clinic()
    kinds = [SyncType.INBOUND, SyncType.FULL, SyncType.INBOUND, SyncType.CASES]
    ids = [
        await _finished(backend.runs, clinic, T0 + timedelta(hours=i), kind, ok=i != 2)
        for i, kind in enumerate(kinds)
    ]
    await start(backend.runs, clinic, T0 + timedelta(hours=1, minutes=1), parent_id=ids[1])
    await _finished(backend.runs, other, T0 + timedelta(hours=9), SyncType.INBOUND, ok=True)

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
    ids = [await _finished(backend.runs, clinic, T0, SyncType.INBOUND, ok=True) for _ in range(3)]

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


def _needs_sql(backend: Backend) -> None:
    if not backend.sql:
        pytest.skip("the memory stores serve one event loop; nothing runs in between")


async def test_concurrent_batches_on_the_same_cases_lose_no_metadata_key(backend: Backend) -> None:
    _needs_sql(backend)
    clinic = await backend.clinic()
    ids = ["a", "b", "c"]
    await put(backend.cases, clinic, *(write(i, metadata={"pims": i}) for i in ids))
    first_has_read = threading.Event()

    def merging(key: str, *, hold: bool) -> Any:
        def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
            if hold:
                first_has_read.set()
                time.sleep(0.5)  # the other writer tries to read now, and must wait
            return [write(i, metadata={**stored[i].metadata, key: True}) for i in ids]

        return plan

    async def in_another_process(key: str, *, hold: bool) -> None:
        engine = create_async_db_engine(backend.url)
        try:
            if not hold:
                await asyncio.to_thread(first_has_read.wait, 10)
            plan = merging(key, hold=hold)
            await SqlCaseStore(engine).apply(clinic_id=clinic, external_ids=ids, plan=plan)
        finally:
            await engine.dispose()

    threads = [
        threading.Thread(target=asyncio.run, args=(in_another_process(k, hold=k == "first"),))
        for k in ("first", "second")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=ids)
    assert {i: dict(c.metadata) for i, c in stored.items()} == {
        i: {"pims": i, "first": True, "second": True} for i in ids
    }


async def test_concurrent_starts_let_exactly_one_run_in(backend: Backend) -> None:
    _needs_sql(backend)
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
    _needs_sql(backend)
    assert backend.engine is not None
    clinic = await backend.clinic()
    await start(backend.runs, clinic)
    row = {"clinic_id": clinic, "sync_type": "full", "status": "in_progress", "started_at": T0}

    with pytest.raises(IntegrityError):
        async with backend.engine.begin() as conn:
            await conn.execute(insert(case_sync_audits).values(id=uuid.uuid4(), **row))
