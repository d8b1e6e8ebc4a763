"""ClinicHealthStore contract: memory, SQLite and Postgres decide and announce alike.

Freshness read from audit rows (a full run's phases count), thresholds from schedules,
failures in a row, warnings, pauses, resumes and their events; on SQL also: an event
exists only if its change committed, and processes noticing one change announce it once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.health import MemoryClinicHealth
from pims_sync.adapters.memory.schedules import MemoryScheduleStore
from pims_sync.adapters.memory.stores import MemoryRunStore
from pims_sync.adapters.sql import health as sql_health
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.health import SqlClinicHealth
from pims_sync.adapters.sql.outbox import SqlEventLog
from pims_sync.adapters.sql.runs import SqlRunStore
from pims_sync.adapters.sql.schedules import SqlScheduleStore
from pims_sync.domain.freshness import Freshness
from pims_sync.domain.health import Limit, PauseKind, PauseReason, RunEnd
from pims_sync.domain.outbox import EventType, StoredEvent
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from pims_sync.errors import InvalidInputError
from pims_sync.ports.events import EventLog
from pims_sync.ports.health import ClinicHealthStore
from pims_sync.ports.schedules import ScheduleStore
from pims_sync.ports.store import RunStore
from tests.contract.store_backends import MEMORY, T0, database_url

__all__ = ["database_url"]

DOWN = RunEnd(success=False, code="pims_unavailable")
REFUSED = RunEnd(success=False, code="pims_auth_failed")
OK = RunEnd(success=True)


@dataclass
class World:
    """The health store over one backend, with the stores it reads and the outbox."""

    engine: AsyncEngine | None
    health: ClinicHealthStore
    runs: RunStore
    schedules: ScheduleStore
    events: EventLog

    async def clinic(self) -> UUID:
        """A new clinic."""
        if self.engine is None:
            assert isinstance(self.schedules, MemoryScheduleStore)
            clinic_id = uuid.uuid4()
            self.schedules.add_clinic(clinic_id)
            return clinic_id
        return (await SqlClinicStore(self.engine).add(name="Happy Paws")).id

    async def run(
        self, clinic: UUID, kind: SyncType, *, ok: bool, at: Any, parent: UUID | None = None
    ) -> UUID:
        """An audit row that ended at `at`."""
        record = await self.runs.start(
            clinic_id=clinic, sync_type=kind, triggered_by=Trigger.API, parent_id=parent, at=at
        )
        status = RunStatus.COMPLETED if ok else RunStatus.FAILED
        await self.runs.finish(
            run_id=record.id,
            status=status,
            counters=RunCounters(),
            error_message=None if ok else "failed",
            result=None,
            at=at,
        )
        return record.id

    async def types(self, clinic: UUID) -> list[str]:
        """The clinic's health event types, in `seq` order."""
        return [str(event.type) for event in await self.all_events(clinic)]

    async def all_events(self, clinic: UUID) -> list[StoredEvent]:
        """The clinic's health events (not the runs' own), in `seq` order."""
        found = await self.events.after(clinic_id=clinic, after_seq=0, limit=1000)
        return [event for event in found if str(event.type).startswith("clinic.")]


@pytest.fixture
async def world(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """The store of each backend, on an empty (migrated) database."""
    if database_url == MEMORY:
        schedules, runs, events = MemoryScheduleStore(), MemoryRunStore(), MemoryEventLog()
        health = MemoryClinicHealth(schedules=schedules, runs=runs, events=events)
        yield World(None, health, runs, schedules, events)
        return
    url = str(request.getfixturevalue("migrated_database_url"))
    engine = create_async_db_engine(url)
    try:
        yield World(
            engine,
            SqlClinicHealth(engine),
            SqlRunStore(engine),
            SqlScheduleStore(engine),
            SqlEventLog(engine),
        )
    finally:
        await engine.dispose()


async def test_a_new_clinic_is_stale_with_the_unscheduled_threshold(world: World) -> None:
    clinic = await world.clinic()
    assert (await world.health.health(clinic)).consecutive_failures == 0
    [found] = await world.health.freshness(at=T0, clinic_ids=[clinic])
    assert found.status is Freshness.STALE
    assert [p.threshold_seconds for p in found.phases] == [9000, 9000, 9000]
    assert [p.last_success_at for p in found.phases] == [None, None, None]
    assert found.reason is not None
    assert "inbound has never succeeded" in found.reason
    assert await world.types(clinic) == []  # reading announces nothing


async def test_the_completed_phases_of_a_full_run_count(world: World) -> None:
    clinic = await world.clinic()
    parent = (
        await world.runs.start(
            clinic_id=clinic, sync_type=SyncType.FULL, triggered_by=Trigger.API, at=T0
        )
    ).id
    inbound_at, cases_at = T0 + timedelta(seconds=5), T0 + timedelta(seconds=9)
    await world.run(clinic, SyncType.INBOUND, ok=True, at=inbound_at, parent=parent)
    await world.run(clinic, SyncType.CASES, ok=True, at=cases_at, parent=parent)
    await world.run(clinic, SyncType.RECONCILIATION, ok=False, at=cases_at, parent=parent)
    await world.runs.finish(
        run_id=parent,
        status=RunStatus.FAILED,
        counters=RunCounters(),
        error_message="reconciliation failed",
        result=None,
        at=cases_at,
    )
    # An older lone inbound run does not hide the newer phase row.
    await world.run(clinic, SyncType.INBOUND, ok=True, at=T0 - timedelta(hours=1))
    other = await world.clinic()
    await world.run(other, SyncType.RECONCILIATION, ok=True, at=T0)
    now = T0 + timedelta(minutes=10)
    found = {f.clinic_id: f for f in await world.health.freshness(at=now)}
    mine = found[clinic]
    assert mine.phase(SyncType.INBOUND).last_success_at == inbound_at
    assert mine.phase(SyncType.INBOUND).age_seconds == 595
    assert mine.phase(SyncType.CASES).last_success_at == cases_at
    assert mine.phase(SyncType.RECONCILIATION).last_success_at is None
    assert mine.status is Freshness.STALE
    assert mine.reason == "reconciliation has never succeeded"
    assert found[other].phase(SyncType.RECONCILIATION).last_success_at == T0


async def test_thresholds_follow_the_schedules_and_the_clinic_own(world: World) -> None:
    clinic = await world.clinic()
    await world.schedules.put(
        clinic,
        [
            {"type": "inbound", "cron": "*/15 * * * *"},
            {"type": "full", "cron": "0 6 * * *"},
            {"type": "reconciliation", "cron": "0 12 * * *", "enabled": False},
        ],
    )
    [found] = await world.health.freshness(at=T0, clinic_ids=[clinic])
    assert [p.threshold_seconds for p in found.phases] == [2250, 216_000, 216_000]
    limits = {Limit.CASES_THRESHOLD: 3600, Limit.LOGIN_BUDGET: 3}
    row = await world.health.configure(clinic_id=clinic, limits=limits)
    assert row.settings.thresholds[SyncType.CASES] == 3600
    assert row.settings.login_budget(12) == 3
    [found] = await world.health.freshness(at=T0, clinic_ids=[clinic])
    assert [p.threshold_seconds for p in found.phases] == [2250, 3600, 216_000]
    row = await world.health.configure(clinic_id=clinic, limits={Limit.CASES_THRESHOLD: None})
    assert row.settings.thresholds[SyncType.CASES] is None
    assert row.settings.login_budget(12) == 3  # the others are kept
    with pytest.raises(InvalidInputError, match="must be from 60"):
        await world.health.configure(clinic_id=clinic, limits={Limit.INBOUND_THRESHOLD: 5})
    assert (await world.health.health(clinic)).settings.thresholds[SyncType.INBOUND] is None


async def test_failures_warn_at_five_and_pause_at_ten(world: World) -> None:
    clinic = await world.clinic()
    for n in range(1, 10):
        found = await world.health.run_ended(clinic_id=clinic, end=DOWN, at=T0)
        assert found.consecutive_failures == n
        assert found.status is Freshness.FAILING
    assert await world.types(clinic) == [
        "clinic.freshness_changed",  # first announcement: failing
        "clinic.failures_warning",  # the fifth, once
    ]
    [warning] = [
        e for e in await world.all_events(clinic) if e.type is EventType.CLINIC_FAILURES_WARNING
    ]
    assert warning.payload["consecutiveFailures"] == 5
    assert warning.payload["lastErrorCode"] == "pims_unavailable"
    assert await world.health.paused() == set()
    found = await world.health.run_ended(clinic_id=clinic, end=DOWN, at=T0)
    assert found.status is Freshness.PAUSED
    assert found.reason == "10 runs failed in a row (the last: pims_unavailable)"
    assert await world.health.paused() == {clinic}
    assert (await world.types(clinic))[2:] == ["clinic.paused", "clinic.freshness_changed"]
    pause = (await world.health.health(clinic)).pause
    assert pause is not None
    assert pause.kind is PauseKind.FAILURES


async def test_a_good_run_resets_the_count_and_own_refusals_do_not_count(world: World) -> None:
    clinic = await world.clinic()
    await world.health.run_ended(clinic_id=clinic, end=DOWN, at=T0)
    for code in ("pims_budget_exhausted", "pims_login_budget_exhausted", "cancelled"):
        end = RunEnd(success=False, code=code)
        assert (
            await world.health.run_ended(clinic_id=clinic, end=end, at=T0)
        ).consecutive_failures == 1
    await world.run(clinic, SyncType.INBOUND, ok=True, at=T0)
    found = await world.health.run_ended(clinic_id=clinic, end=OK, at=T0)
    assert found.consecutive_failures == 0
    assert found.status is Freshness.STALE  # cases and reconciliation never succeeded
    events = await world.all_events(clinic)
    assert [e.payload["status"] for e in events] == ["failing", "stale"]
    assert events[1].payload["previousStatus"] == "failing"


async def test_a_refused_password_pauses_at_once_and_new_credentials_resume(world: World) -> None:
    clinic = await world.clinic()
    found = await world.health.run_ended(clinic_id=clinic, end=REFUSED, at=T0)
    assert found.status is Freshness.PAUSED
    assert found.paused_at == T0
    assert found.reason is not None
    assert "refused the clinic's password" in found.reason
    assert await world.types(clinic) == ["clinic.paused", "clinic.freshness_changed"]
    later = T0 + timedelta(minutes=1)
    # A resume for another kind of pause leaves it paused; the one for credentials resumes.
    assert not await world.health.resume(
        clinic_id=clinic, at=later, by="x", only=PauseKind.FAILURES
    )
    assert await world.health.resume(
        clinic_id=clinic, at=later, by="new credentials", only=PauseKind.CREDENTIALS
    )
    assert not await world.health.resume(clinic_id=clinic, at=later, by="again")
    health = await world.health.health(clinic)
    assert not health.paused
    assert health.consecutive_failures == 0
    events = await world.all_events(clinic)
    assert [str(e.type) for e in events[2:]] == ["clinic.resumed", "clinic.freshness_changed"]
    assert events[2].payload["pauseKind"] == "credentials"
    assert events[2].payload["resumedBy"] == "new credentials"
    assert events[3].payload == {**events[3].payload, "status": "stale", "previousStatus": "paused"}


async def test_pausing_by_hand_keeps_the_first_reason(world: World) -> None:
    clinic = await world.clinic()
    reason = PauseReason(PauseKind.OPERATOR, "the clinic moves to another PIMS")
    assert await world.health.pause(clinic_id=clinic, reason=reason, at=T0)
    other = PauseReason(PauseKind.OPERATOR, "again")
    assert not await world.health.pause(clinic_id=clinic, reason=other, at=T0)
    [found] = await world.health.freshness(at=T0, clinic_ids=[clinic])
    assert found.reason == "the clinic moves to another PIMS"
    assert await world.types(clinic) == ["clinic.paused", "clinic.freshness_changed"]


async def test_a_status_change_is_announced_once(world: World) -> None:
    clinic = await world.clinic()
    for kind in (SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILIATION):
        await world.run(clinic, kind, ok=True, at=T0)
    assert [f.status for f in await world.health.reassess(at=T0)] == [Freshness.FRESH]
    assert [f.status for f in await world.health.reassess(at=T0)] == [Freshness.FRESH]
    late = T0 + timedelta(minutes=151)  # past 150 minutes without a schedule
    assert [f.status for f in await world.health.reassess(at=late)] == [Freshness.STALE]
    await world.health.reassess(at=late + timedelta(minutes=1))
    events = await world.all_events(clinic)
    assert [(e.payload["previousStatus"], e.payload["status"]) for e in events] == [
        (None, "fresh"),
        ("fresh", "stale"),
    ]
    assert events[1].payload["reason"].startswith("inbound last succeeded 2 h 31 min ago")


async def test_processes_noticing_a_change_announce_it_once(world: World) -> None:
    if world.engine is None:
        pytest.skip("separate processes share a database")
    clinics = [await world.clinic() for _ in range(3)]
    url = world.engine.url.render_as_string(hide_password=False)
    engines = [create_async_db_engine(url) for _ in range(4)]
    try:
        stores = [SqlClinicHealth(engine) for engine in engines]
        await asyncio.gather(*(store.reassess(at=T0) for store in stores * 2))
    finally:
        for engine in engines:
            await engine.dispose()
    for clinic in clinics:
        assert await world.types(clinic) == ["clinic.freshness_changed"]


async def test_no_event_without_its_change(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    if world.engine is None:
        pytest.skip("the transaction is SQL's")
    clinic = await world.clinic()

    async def broken(*args: Any, **kwargs: Any) -> list[StoredEvent]:
        raise RuntimeError("the outbox failed")

    monkeypatch.setattr(sql_health, "append_events", broken)
    with pytest.raises(RuntimeError, match="the outbox failed"):
        await world.health.run_ended(clinic_id=clinic, end=REFUSED, at=T0)
    health = await world.health.health(clinic)
    assert not health.paused
    assert health.consecutive_failures == 0
    assert health.announced is None
    assert await world.types(clinic) == []
