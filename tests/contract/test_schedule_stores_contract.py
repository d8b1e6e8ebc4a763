"""Scheduling stores contract: ScheduleStore, FireStore, RunRecovery in memory, SQLite, Postgres.

The memory implementations stand in for the SQL ones in the scheduler's unit tests, so they
must behave the same. One exception is by design: `MemoryRunRecovery` recovers nothing (in
memory, a process's runs die with it), so the stale-run cases run on SQL only.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.schedules import (
    MemoryFireStore,
    MemoryRunRecovery,
    MemoryScheduleStore,
)
from pims_sync.adapters.memory.stores import MemoryRunStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.outbox import SqlEventLog
from pims_sync.adapters.sql.runs import SqlRunStore
from pims_sync.adapters.sql.schedules import SqlFireStore, SqlRunRecovery, SqlScheduleStore
from pims_sync.adapters.sql.tables import clinics
from pims_sync.domain.outbox import EventType
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger
from pims_sync.ports.schedules import FireStatus, FireStore, RunRecovery, ScheduleStore
from pims_sync.ports.store import RunStore
from tests.contract.store_backends import MEMORY, T0, database_url

__all__ = ["database_url"]

STALE = timedelta(minutes=2)
SCHEDULES = [
    {"type": "inbound", "cron": "0 6 * * *", "options": {"daysAhead": 14}},
    {"type": "cases", "cron": "0 */2 * * *", "enabled": False},
]


@dataclass
class Scheduling:
    """The three stores over one backend, and how to make clinics and runs for them."""

    engine: AsyncEngine | None
    schedules: ScheduleStore
    fires: FireStore
    recovery: RunRecovery
    runs: RunStore
    _clinics: int = 0

    async def clinic(self, name: str = "Happy Paws", timezone: str = "America/Chicago") -> UUID:
        """A new clinic, younger than the ones made before it."""
        self._clinics += 1
        if self.engine is None:
            assert isinstance(self.schedules, MemoryScheduleStore)
            clinic_id = uuid.uuid4()
            self.schedules.add_clinic(clinic_id, name=name, timezone=timezone)
            return clinic_id
        clinic_id = (await SqlClinicStore(self.engine).add(name=name, timezone=timezone)).id
        # CURRENT_TIMESTAMP has whole seconds on SQLite: make the age order explicit.
        async with self.engine.begin() as conn:
            created = T0 + timedelta(seconds=self._clinics)
            await conn.execute(
                update(clinics).where(clinics.c.id == clinic_id).values(created_at=created)
            )
        return clinic_id

    async def deactivate(self, clinic_id: UUID) -> None:
        """`clinics.is_active = false` (SQL only: memory clinics have no such flag)."""
        assert self.engine is not None
        async with self.engine.begin() as conn:
            await conn.execute(
                update(clinics).where(clinics.c.id == clinic_id).values(is_active=False)
            )

    def needs_sql(self, why: str) -> None:
        """Skip on memory, saying why the memory implementation differs by design."""
        if self.engine is None:
            pytest.skip(why)


@pytest.fixture
async def scheduling(
    database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[Scheduling]:
    """The scheduling stores of each backend, on an empty (migrated) database."""
    if database_url == MEMORY:
        yield Scheduling(
            None, MemoryScheduleStore(), MemoryFireStore(), MemoryRunRecovery(), MemoryRunStore()
        )
        return
    url = str(request.getfixturevalue("migrated_database_url"))
    engine = create_async_db_engine(url)
    try:
        yield Scheduling(
            engine,
            SqlScheduleStore(engine),
            SqlFireStore(engine),
            SqlRunRecovery(engine),
            SqlRunStore(engine),
        )
    finally:
        await engine.dispose()


async def claim_at(
    fires: FireStore, clinic: UUID, minutes: int, sync_type: SyncType = SyncType.FULL
) -> UUID | None:
    """Claim the fire time `minutes` after T0, at T0."""
    fire_at = T0 + timedelta(minutes=minutes)
    return await fires.claim(clinic_id=clinic, sync_type=sync_type, fire_at=fire_at, by="p", at=T0)


# --- ScheduleStore --------------------------------------------------------------------------


async def test_a_clinic_without_schedules_has_an_empty_config(scheduling: Scheduling) -> None:
    clinic = await scheduling.clinic("Oak Vet", "Europe/Berlin")

    config = await scheduling.schedules.get(clinic)

    assert config is not None
    assert (config.clinic_id, config.clinic_name, config.timezone) == (
        clinic,
        "Oak Vet",
        "Europe/Berlin",
    )
    assert list(config.entries) == []
    assert config.zone == ZoneInfo("Europe/Berlin")
    assert await scheduling.schedules.get(uuid.uuid4()) is None


async def test_put_replaces_the_entries_of_one_clinic_only(scheduling: Scheduling) -> None:
    clinic, other = await scheduling.clinic(), await scheduling.clinic("Other")
    await scheduling.schedules.put(other, [{"type": "full", "cron": "0 1 * * *"}])

    await scheduling.schedules.put(clinic, [{"type": "full", "cron": "0 2 * * *"}])
    await scheduling.schedules.put(clinic, SCHEDULES)

    mine, theirs = await scheduling.schedules.get(clinic), await scheduling.schedules.get(other)
    assert mine is not None
    assert theirs is not None
    assert list(mine.entries) == SCHEDULES
    assert list(theirs.entries) == [{"type": "full", "cron": "0 1 * * *"}]
    parsed = mine.parsed
    assert [(s.type, s.cron, s.enabled) for s in parsed.schedules] == [
        (SyncType.INBOUND, "0 6 * * *", True),
        (SyncType.CASES, "0 */2 * * *", False),
    ]
    await scheduling.schedules.put(clinic, [])
    emptied = await scheduling.schedules.get(clinic)
    assert emptied is not None
    assert list(emptied.entries) == []


async def test_configs_lists_clinics_oldest_first_or_the_ones_asked_for(
    scheduling: Scheduling,
) -> None:
    first, second, third = [await scheduling.clinic(f"Clinic {n}") for n in range(3)]
    await scheduling.schedules.put(second, SCHEDULES)

    every = await scheduling.schedules.configs()
    chosen = await scheduling.schedules.configs([third, first])

    assert [c.clinic_id for c in every] == [first, second, third]
    assert [list(c.entries) for c in every] == [[], SCHEDULES, []]
    assert [c.clinic_id for c in chosen] == [first, third]
    assert await scheduling.schedules.configs([uuid.uuid4()]) == []


async def test_deactivated_clinics_have_no_schedules_to_run(scheduling: Scheduling) -> None:
    scheduling.needs_sql("memory clinics have no is_active flag")
    active, inactive = await scheduling.clinic(), await scheduling.clinic("Closed")
    await scheduling.schedules.put(inactive, SCHEDULES)

    await scheduling.deactivate(inactive)

    assert [c.clinic_id for c in await scheduling.schedules.configs()] == [active]
    assert await scheduling.schedules.configs([inactive]) == []


# --- FireStore ------------------------------------------------------------------------------


async def test_a_fire_time_is_claimed_once(scheduling: Scheduling) -> None:
    clinic, other = await scheduling.clinic(), await scheduling.clinic("Other")
    fires = scheduling.fires

    won = await fires.claim(clinic_id=clinic, sync_type=SyncType.FULL, fire_at=T0, by="p1", at=T0)
    lost = await fires.claim(clinic_id=clinic, sync_type=SyncType.FULL, fire_at=T0, by="p2", at=T0)
    # The same instant written in another zone is the same fire time.
    berlin = T0.astimezone(ZoneInfo("Europe/Berlin"))
    lost_again = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=berlin, by="p3", at=T0
    )
    others = [
        await fires.claim(clinic_id=c, sync_type=t, fire_at=at, by="p2", at=T0)
        for c, t, at in (
            (clinic, SyncType.INBOUND, T0),
            (clinic, SyncType.FULL, T0 + timedelta(minutes=1)),
            (other, SyncType.FULL, T0),
        )
    ]

    assert won is not None
    assert (lost, lost_again) == (None, None)
    assert None not in others
    assert len({won, *others}) == 4
    at_t0 = await fires.between(start=T0, end=T0 + timedelta(seconds=1), clinic_id=clinic)
    [fire] = [f for f in at_t0 if f.sync_type is SyncType.FULL]
    assert fire.id == won
    assert (fire.status, fire.claimed_by, fire.claimed_at, fire.sync_type) == (
        FireStatus.CLAIMED,
        "p1",
        T0,
        SyncType.FULL,
    )
    assert (fire.reason, fire.run_id, fire.run_by, fire.finished_at) == (None, None, None, None)
    assert len(at_t0) == 2  # and the inbound one


async def test_concurrent_claims_have_exactly_one_winner(scheduling: Scheduling) -> None:
    clinic = await scheduling.clinic()

    claims = await asyncio.gather(
        *(
            scheduling.fires.claim(
                clinic_id=clinic, sync_type=SyncType.CASES, fire_at=T0, by=f"p{n}", at=T0
            )
            for n in range(8)
        )
    )

    assert len([c for c in claims if c is not None]) == 1
    assert len(await scheduling.fires.between(start=T0, end=T0 + STALE)) == 1


async def test_skip_records_a_fire_time_unless_it_is_recorded(scheduling: Scheduling) -> None:
    clinic = await scheduling.clinic()
    fires, later = scheduling.fires, T0 + timedelta(hours=1)
    claimed = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=T0, by="p1", at=T0
    )

    skipped_claimed = await fires.skip(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=T0, reason="busy", by="p2", at=T0
    )
    skipped = await fires.skip(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=later, reason="busy", by="p2", at=later
    )
    skipped_twice = await fires.skip(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=later, reason="again", by="p3", at=later
    )
    claim_of_skipped = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=later, by="p3", at=later
    )

    assert (skipped_claimed, skipped, skipped_twice, claim_of_skipped) == (
        False,
        True,
        False,
        None,
    )
    first, second = await fires.between(start=T0, end=later + STALE, clinic_id=clinic)
    assert (first.id, first.status) == (claimed, FireStatus.CLAIMED)
    assert (second.status, second.reason, second.claimed_by, second.finished_at) == (
        FireStatus.SKIPPED,
        "busy",
        "p2",
        later,
    )


async def test_mark_moves_a_fire_and_keeps_what_it_is_not_given(
    scheduling: Scheduling,
) -> None:
    clinic = await scheduling.clinic()
    fires, run_id = scheduling.fires, uuid.uuid4()
    fire_id = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.INBOUND, fire_at=T0, by="p1", at=T0
    )
    assert fire_id is not None

    await fires.mark(fire_id, status=FireStatus.QUEUED, at=T0 + timedelta(seconds=1))
    await fires.mark(
        fire_id,
        status=FireStatus.STARTED,
        at=T0 + timedelta(seconds=2),
        run_id=run_id,
        run_by="worker-1",
    )
    [started] = await fires.latest([clinic])
    await fires.mark(fire_id, status=FireStatus.COMPLETED, at=T0 + timedelta(seconds=9))
    await fires.mark(
        fire_id,
        status=FireStatus.FAILED,
        at=T0 + timedelta(seconds=10),
        reason="late",
        if_open=True,
    )
    [ended] = await fires.latest([clinic])

    assert (started.status, started.run_id, started.run_by, started.finished_at) == (
        FireStatus.STARTED,
        run_id,
        "worker-1",
        None,
    )
    assert (ended.status, ended.run_id, ended.run_by, ended.reason, ended.finished_at) == (
        FireStatus.COMPLETED,
        run_id,
        "worker-1",
        None,
        T0 + timedelta(seconds=9),
    )
    await fires.mark(fire_id, status=FireStatus.FAILED, at=T0 + STALE, reason="redone")
    [forced] = await fires.latest([clinic])
    assert (forced.status, forced.reason, forced.run_id, forced.finished_at) == (
        FireStatus.FAILED,
        "redone",
        run_id,
        T0 + STALE,
    )


async def test_latest_is_the_newest_fire_of_each_clinic_and_type(scheduling: Scheduling) -> None:
    clinic, other = await scheduling.clinic(), await scheduling.clinic("Other")
    for minutes in (0, 30, 10):
        await claim_at(scheduling.fires, clinic, minutes, SyncType.INBOUND)
    await scheduling.fires.skip(
        clinic_id=clinic, sync_type=SyncType.CASES, fire_at=T0, reason="r", by="p", at=T0
    )
    await claim_at(scheduling.fires, other, 0, SyncType.INBOUND)

    mine = {(f.sync_type, f.fire_at) for f in await scheduling.fires.latest([clinic])}
    every = await scheduling.fires.latest()

    assert mine == {(SyncType.INBOUND, T0 + timedelta(minutes=30)), (SyncType.CASES, T0)}
    assert len(every) == 3
    assert {f.clinic_id for f in every} == {clinic, other}
    assert await scheduling.fires.latest([uuid.uuid4()]) == []


async def test_between_is_half_open_and_in_time_order(scheduling: Scheduling) -> None:
    clinic, other = await scheduling.clinic(), await scheduling.clinic("Other")
    for clinic_id, minutes in ((clinic, 20), (other, 5), (clinic, 0), (clinic, 10)):
        await claim_at(scheduling.fires, clinic_id, minutes)

    window = await scheduling.fires.between(start=T0, end=T0 + timedelta(minutes=20))
    mine = await scheduling.fires.between(
        start=T0 + timedelta(minutes=1), end=T0 + timedelta(hours=1), clinic_id=clinic
    )

    assert [(f.clinic_id, f.fire_at - T0) for f in window] == [
        (clinic, timedelta(0)),
        (other, timedelta(minutes=5)),
        (clinic, timedelta(minutes=10)),
    ]
    assert [f.fire_at - T0 for f in mine] == [timedelta(minutes=10), timedelta(minutes=20)]


# --- RunRecovery ----------------------------------------------------------------------------

MEMORY_RECOVERS_NOTHING = (
    "MemoryRunRecovery recovers nothing: in memory, runs die with their process"
)


async def test_recovery_leaves_live_runs_and_open_fires_alone(scheduling: Scheduling) -> None:
    clinic = await scheduling.clinic()
    run = await scheduling.runs.start(
        clinic_id=clinic, sync_type=SyncType.FULL, triggered_by=Trigger.SCHEDULER, at=T0
    )
    fire = await scheduling.fires.claim(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=T0, by="p", at=T0
    )
    assert fire is not None
    await scheduling.fires.mark(fire, status=FireStatus.STARTED, at=T0, run_id=run.id)
    now = T0 + STALE - timedelta(seconds=1)

    abandoned = await scheduling.recovery.abandon_stale(at=now, stale_after=STALE)
    settled = await scheduling.recovery.settle_fires(at=now, stale_after=STALE)

    assert (abandoned, settled) == ([], 0)
    live = await scheduling.runs.get(clinic_id=clinic, run_id=run.id)
    assert live is not None
    assert live.status is RunStatus.IN_PROGRESS
    [kept] = await scheduling.fires.latest([clinic])
    assert kept.status is FireStatus.STARTED


async def test_a_stale_run_is_abandoned_with_its_phases_once(scheduling: Scheduling) -> None:
    scheduling.needs_sql(MEMORY_RECOVERS_NOTHING)
    dead, alive = await scheduling.clinic("Dead"), await scheduling.clinic("Alive")
    runs = scheduling.runs
    top = await runs.start(
        clinic_id=dead, sync_type=SyncType.FULL, triggered_by=Trigger.SCHEDULER, at=T0
    )
    phase = await runs.start(
        clinic_id=dead,
        sync_type=SyncType.INBOUND,
        triggered_by=Trigger.SCHEDULER,
        parent_id=top.id,
        at=T0,
    )
    beating = await runs.start(
        clinic_id=alive, sync_type=SyncType.CASES, triggered_by=Trigger.API, at=T0
    )
    now = T0 + STALE + timedelta(seconds=1)
    await runs.heartbeat(run_id=beating.id, at=now - timedelta(seconds=30))

    abandoned = await scheduling.recovery.abandon_stale(at=now, stale_after=STALE)
    again = await scheduling.recovery.abandon_stale(at=now, stale_after=STALE)

    assert (abandoned, again) == ([top.id], [])
    for run_id in (top.id, phase.id):
        run = await runs.get(clinic_id=dead, run_id=run_id)
        assert run is not None
        assert (run.status, run.error_message, run.completed_at) == (
            RunStatus.FAILED,
            "abandoned",
            now,
        )
    kept = await runs.get(clinic_id=alive, run_id=beating.id)
    assert kept is not None
    assert kept.status is RunStatus.IN_PROGRESS
    assert scheduling.engine is not None
    outbox = SqlEventLog(scheduling.engine)
    [event] = await outbox.after(clinic_id=dead, after_seq=0, limit=10)
    assert (event.type, event.subject_id) == (EventType.SYNC_FAILED, str(top.id))
    assert event.payload["errorCode"] == "abandoned"
    assert await outbox.after(clinic_id=alive, after_seq=0, limit=10) == []


async def test_settle_closes_the_fires_a_crashed_process_left_open(
    scheduling: Scheduling,
) -> None:
    scheduling.needs_sql(MEMORY_RECOVERS_NOTHING)
    clinic = await scheduling.clinic()
    fires, runs, now = scheduling.fires, scheduling.runs, T0 + timedelta(minutes=10)
    ended = await runs.start(
        clinic_id=clinic, sync_type=SyncType.FULL, triggered_by=Trigger.SCHEDULER, at=T0
    )
    await runs.finish(
        run_id=ended.id,
        status=RunStatus.FAILED,
        counters=RunCounters(),
        error_message="interrupted by shutdown",
        result=None,
        at=T0 + timedelta(minutes=1),
    )
    started = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.FULL, fire_at=T0, by="p", at=T0
    )
    lost = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.CASES, fire_at=T0, by="gone", at=T0
    )
    young = await fires.claim(
        clinic_id=clinic, sync_type=SyncType.INBOUND, fire_at=now, by="p", at=now
    )
    assert None not in (started, lost, young)
    assert started is not None
    await fires.mark(started, status=FireStatus.STARTED, at=T0, run_id=ended.id)

    settled = await scheduling.recovery.settle_fires(at=now, stale_after=STALE)
    again = await scheduling.recovery.settle_fires(at=now, stale_after=STALE)

    assert (settled, again) == (2, 0)
    by_id = {f.id: f for f in await fires.between(start=T0, end=now + STALE)}
    assert (by_id[started].status, by_id[started].reason) == (
        FireStatus.FAILED,
        "interrupted by shutdown",
    )
    assert by_id[lost].status is FireStatus.FAILED
    assert by_id[lost].reason is not None
    assert by_id[lost].reason.startswith("abandoned")
    assert by_id[lost].finished_at == now
    assert by_id[young].status is FireStatus.CLAIMED
