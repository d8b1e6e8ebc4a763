"""Store backends for the contract suites: memory, SQLite and Postgres, same fixtures."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.stores import MemoryCaseStore, MemoryRunStore
from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.outbox import SqlEventLog
from pims_sync.adapters.sql.runs import SqlRunStore
from pims_sync.domain.outbox import StoredEvent
from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger
from pims_sync.ports.events import EventLog
from pims_sync.ports.store import CaseStore, CaseWrite, PatientRow, RunStore

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
MEMORY = "memory://"


@dataclass
class Backend:
    """The stores under test, and how to make clinics and other run stores for them."""

    url: str
    engine: AsyncEngine | None
    cases: MemoryCaseStore | SqlCaseStore
    runs: MemoryRunStore | SqlRunStore
    events: EventLog

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
    other = MemoryRunStore(stale_after=stale_after, events=store.events)
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
        events = MemoryEventLog()
        yield Backend(MEMORY, None, MemoryCaseStore(events), MemoryRunStore(events=events), events)
        return
    url = str(request.getfixturevalue("migrated_database_url"))
    engine = create_async_db_engine(url)
    try:
        yield Backend(url, engine, SqlCaseStore(engine), SqlRunStore(engine), SqlEventLog(engine))
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


async def start(runs: RunStore, clinic: UUID, at: datetime = T0, **kwargs: Any) -> RunRecord:
    """Start an inbound run from the API unless told otherwise."""
    options: dict[str, Any] = {"sync_type": SyncType.INBOUND, "triggered_by": Trigger.API}
    return await runs.start(clinic_id=clinic, at=at, **(options | kwargs))


async def finished_run(
    runs: RunStore, clinic: UUID, at: datetime, kind: SyncType, ok: bool
) -> UUID:
    run = await start(runs, clinic, at, sync_type=kind)
    status = RunStatus.COMPLETED if ok else RunStatus.FAILED
    await runs.finish(
        run_id=run.id, status=status, counters=RunCounters(), error_message=None, result=None, at=at
    )
    return run.id


def needs_sql(backend: Backend) -> None:
    if not backend.sql:
        pytest.skip("the memory stores serve one event loop; nothing runs in between")


async def events_of(backend: Backend, clinic: UUID) -> list[StoredEvent]:
    """Every event of the clinic, in seq order."""
    return await backend.events.after(clinic_id=clinic, after_seq=0, limit=1000)
