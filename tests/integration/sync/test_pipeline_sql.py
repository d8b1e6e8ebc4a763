"""The pipeline over the SQL stores, on SQLite and Postgres: the same rules hold."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.runs import SqlRunStore
from pims_sync.domain.runs import RunStatus, SyncType
from pims_sync.sync.outcomes import FullOutcome, PhaseOutcome
from pims_sync.sync.service import SyncRequest, SyncService
from tests.unit.sync.conftest import NOW, TODAY, Clock, Credentials, appointment, consultation


@pytest.fixture
async def engine(migrated_database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_async_db_engine(migrated_database_url)
    yield engine
    await engine.dispose()


async def test_full_run_then_changes_on_sql_stores(engine: AsyncEngine) -> None:
    clinics = SqlClinicStore(engine)
    clinic = await clinics.add(name="Demo", timezone="America/Los_Angeles")
    provider = FakeProvider(
        appointments=[
            appointment(
                "1", day=TODAY - timedelta(days=1), hour=1, minute=30, consultation_id="c1"
            ),
            appointment("2", hour=10),
            appointment("3", day=TODAY + timedelta(days=2)),
        ],
        consultations=[consultation("c1")],
    )
    cases, runs = SqlCaseStore(engine), SqlRunStore(engine)
    service = SyncService(
        clinics=clinics,
        credentials=Credentials(),
        provider=provider,
        cases=cases,
        runs=runs,
        now=Clock(NOW),
    )
    full = await service.run(SyncRequest(clinic.id, SyncType.FULL))
    assert isinstance(full, FullOutcome)
    assert full.success, full.result().wire()
    assert full.inbound.stats.cases_created == 3
    assert full.cases.stats.cases_enriched == 1
    stored = await cases.get_many(clinic_id=clinic.id, external_ids=["pims-appt-idexx-neo-1"])
    assert stored["pims-appt-idexx-neo-1"].scheduled_at == datetime(2026, 3, 8, 9, 30, tzinfo=UTC)
    again = await service.run(SyncRequest(clinic.id, SyncType.INBOUND))
    assert isinstance(again, PhaseOutcome)
    assert (again.stats.cases_created, again.stats.cases_updated) == (0, 0)
    del provider.appointments["2"]
    gone = await service.run(SyncRequest(clinic.id, SyncType.RECONCILIATION))
    assert gone.result().wire()["stats"]["casesDeleted"] == 1
    children = await runs.children(clinic_id=clinic.id, parent_id=full.run_id)
    assert [c.status for c in children] == [RunStatus.COMPLETED] * 3
