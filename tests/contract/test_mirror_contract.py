"""One contract for the schedule mirror: in memory, on SQLite and on Postgres.

What a fetch writes (new, changed, cancelled, restored, removed), the safety rules on
removals (an empty calendar, too many at once, unreadable events), the window it may
touch, the days it records, and that a clinic's mirror is its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.mirror import MemoryScheduleMirror
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.mirror import SqlScheduleMirror
from pims_sync.adapters.sql.tables import pims_appointments
from pims_sync.domain.mirror import EntryKind, MirrorEntry, MirrorListing
from pims_sync.ports.mirror import ScheduleMirror
from tests.contract.store_backends import MEMORY, database_url

__all__ = ["database_url"]

DAY = date(2026, 6, 10)
START = datetime(2026, 6, 10, 7, tzinfo=UTC)  # midnight in Los Angeles
END = START + timedelta(days=1)
NOW = datetime(2026, 6, 9, 12, tzinfo=UTC)


def visit(number: int, *, minutes: int = 30, **changes: Any) -> MirrorEntry:
    """An appointment `number` half-hours into the window's day, in column 7."""
    start = START + timedelta(hours=8, minutes=30 * number)
    entry = MirrorEntry(
        external_id=str(500_000 + number),
        kind=EntryKind.APPOINTMENT,
        starts_at=start,
        ends_at=start + timedelta(minutes=minutes),
        resource_id="7",
        room_name="ROOM 1",
        provider_name="DR. A. PATEL",
        appointment_type="Exam",
        status="Scheduled",
        patient_name="BELLA",
        client_name="ANA LOPEZ",
    )
    return replace(entry, **changes)


BLOCK = MirrorEntry(
    "600001", EntryKind.BLOCK, START + timedelta(hours=12), START + timedelta(hours=13), "9"
)
ROSTER = MirrorEntry(
    "600002", EntryKind.ROSTER, START + timedelta(hours=8), START + timedelta(hours=19), "9"
)


def listing(*entries: MirrorEntry, **unreadable: Any) -> MirrorListing:
    """What a fetch of the window listed."""
    return MirrorListing(START, END, {e.key: e for e in entries}, **unreadable)


@dataclass
class World:
    """A mirror of one kind, two clinics, and the SQL engine (None in memory)."""

    mirror: ScheduleMirror
    alpha: UUID
    bravo: UUID
    engine: AsyncEngine | None

    async def rows(self) -> dict[str, dict[str, Any]]:
        """The SQL rows of clinic alpha by external id (SQL only)."""
        if self.engine is None:
            pytest.skip("the columns are the SQL table's")
        table = pims_appointments
        async with self.engine.connect() as conn:
            found = await conn.execute(select(table).where(table.c.clinic_id == self.alpha))
            return {row.external_id: dict(row._mapping) for row in found}


@pytest.fixture
async def world(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    """A mirror of each kind, on an empty (migrated) database."""
    if database_url == MEMORY:
        yield World(MemoryScheduleMirror(), UUID(int=1), UUID(int=2), None)
        return
    engine = create_async_db_engine(str(request.getfixturevalue("migrated_database_url")))
    clinics = SqlClinicStore(engine)
    alpha, bravo = (await clinics.add(name="Alpha")).id, (await clinics.add(name="Bravo")).id
    try:
        yield World(SqlScheduleMirror(engine), alpha, bravo, engine)
    finally:
        await engine.dispose()


async def live(mirror: ScheduleMirror, clinic: UUID) -> dict[tuple[str, EntryKind], MirrorEntry]:
    return {e.key: e for e in await mirror.entries_between(clinic_id=clinic, start=START, end=END)}


async def record(mirror: ScheduleMirror, clinic: UUID, found: MirrorListing, **kwargs: Any) -> Any:
    return await mirror.record(clinic_id=clinic, listing=found, days=[DAY], now=NOW, **kwargs)


async def test_a_fetch_writes_every_event_and_reads_back_the_live_ones(world: World) -> None:
    mirror, clinic = world.mirror, world.alpha
    found = listing(visit(0), visit(1), BLOCK, ROSTER)

    plan = await record(mirror, clinic, found)

    assert (plan.created, plan.updated, plan.unchanged, plan.removals) == (4, 0, 0, ())
    assert await live(mirror, clinic) == found.entries
    between = await mirror.entries_between(clinic_id=clinic, start=START, end=END)
    assert [e.external_id for e in between] == ["500000", "600002", "500001", "600001"]
    assert await mirror.resource_ids(clinic_id=clinic, since=START) == ["7", "9"]
    assert await mirror.resource_ids(clinic_id=clinic, since=END) == []
    assert await mirror.synced_days(clinic_id=clinic, first=DAY, last=DAY) == {DAY: NOW}
    assert await mirror.synced_days(clinic_id=clinic, first=DAY + timedelta(1), last=DAY) == {}


async def test_the_same_calendar_again_writes_nothing_new(world: World) -> None:
    found = listing(visit(0), BLOCK)
    await record(world.mirror, world.alpha, found)
    later = NOW + timedelta(hours=1)
    plan = await world.mirror.record(clinic_id=world.alpha, listing=found, days=[DAY], now=later)
    assert (plan.writes, plan.unchanged, plan.removals) == ((), 2, ())
    assert await world.mirror.synced_days(clinic_id=world.alpha, first=DAY, last=DAY) == {
        DAY: later
    }


async def test_moved_cancelled_removed_and_back(world: World) -> None:
    mirror, clinic = world.mirror, world.alpha
    await record(mirror, clinic, listing(visit(0), visit(1), visit(2), BLOCK))
    moved = visit(0, starts_at=START + timedelta(hours=15), ends_at=START + timedelta(hours=16))
    cancelled = visit(1, status="Cancelled")

    plan = await record(mirror, clinic, listing(moved, cancelled, BLOCK))

    assert (plan.updated, plan.cancelled, plan.removals) == (1, 1, (visit(2).key,))
    assert await live(mirror, clinic) == {moved.key: moved, BLOCK.key: BLOCK}
    again = await record(mirror, clinic, listing(moved, visit(1), visit(2), BLOCK))
    assert (again.restored, again.updated, again.unchanged) == (2, 0, 2)
    assert set(await live(mirror, clinic)) == {moved.key, visit(1).key, visit(2).key, BLOCK.key}


async def test_marks_and_stamps_in_the_sql_rows(world: World) -> None:
    mirror, clinic = world.mirror, world.alpha
    await record(mirror, clinic, listing(visit(0), visit(1)))
    later = NOW + timedelta(minutes=5)
    await mirror.record(clinic_id=clinic, listing=listing(visit(0)), days=[DAY], now=later)
    rows = await world.rows()
    assert rows["500001"]["deleted_at"] == later
    assert rows["500000"]["deleted_at"] is None
    assert {row["last_synced_at"] for row in rows.values()} == {later}
    assert rows["500000"]["sync_hash"] == visit(0).sync_hash
    assert (rows["500000"]["patient_name"], rows["500000"]["kind"]) == ("BELLA", "appointment")


async def test_an_empty_calendar_marks_nothing(world: World) -> None:
    await record(world.mirror, world.alpha, listing(visit(0), BLOCK))
    plan = await record(world.mirror, world.alpha, listing())
    assert (plan.removals, plan.held) == ((), 2)
    assert plan.held_reason == "the PIMS listed nothing for a window with 2 live entries"
    assert len(await live(world.mirror, world.alpha)) == 2


async def test_too_many_removals_at_once_wait_unless_forced(world: World) -> None:
    visits = [visit(n) for n in range(10)]
    await record(world.mirror, world.alpha, listing(*visits))
    kept = listing(*visits[:4])
    held = await record(world.mirror, world.alpha, kept)
    assert (held.removals, held.held) == ((), 6)
    assert len(await live(world.mirror, world.alpha)) == 10
    forced = await record(world.mirror, world.alpha, kept, force=True)
    assert len(forced.removals) == 6
    assert len(await live(world.mirror, world.alpha)) == 4


async def test_unreadable_events_are_never_marked(world: World) -> None:
    await record(world.mirror, world.alpha, listing(visit(0), visit(1), BLOCK))
    by_id = await record(
        world.mirror, world.alpha, listing(visit(1), unreadable_ids=frozenset({"500000"}))
    )
    assert by_id.removals == (BLOCK.key,)  # listed but unreadable: visit 0 stays
    await record(world.mirror, world.alpha, listing(visit(0), visit(1), BLOCK))
    anonymous = await record(world.mirror, world.alpha, listing(BLOCK, unidentified=1))
    assert (anonymous.removals, anonymous.held) == ((), 2)  # either visit may be it
    staff = await record(world.mirror, world.alpha, listing(visit(0), staff_unreadable=1))
    assert staff.removals == (visit(1).key,)  # the block may be the unreadable one
    assert set(await live(world.mirror, world.alpha)) == {visit(0).key, BLOCK.key}


async def test_only_the_window_is_touched(world: World) -> None:
    tomorrow = visit(0, starts_at=END + timedelta(hours=9), ends_at=END + timedelta(hours=10))
    yesterday_stay = visit(
        9, starts_at=START - timedelta(days=2), ends_at=START + timedelta(hours=1)
    )
    wide = MirrorListing(START - timedelta(days=3), END + timedelta(days=1), {})
    wide = replace(wide, entries={tomorrow.key: tomorrow, yesterday_stay.key: yesterday_stay})
    await world.mirror.record(clinic_id=world.alpha, listing=wide, days=[DAY], now=NOW)

    plan = await record(world.mirror, world.alpha, listing(visit(3)))

    assert plan.removals == (yesterday_stay.key,)  # it overlaps the window; tomorrow does not
    tomorrow_start = END + timedelta(hours=8)
    kept = await world.mirror.entries_between(
        clinic_id=world.alpha, start=tomorrow_start, end=tomorrow_start + timedelta(hours=3)
    )
    assert kept == [tomorrow]


async def test_a_clinic_sees_only_its_own_mirror(world: World) -> None:
    await record(world.mirror, world.alpha, listing(visit(0), BLOCK))
    await record(world.mirror, world.bravo, listing(visit(1)))
    assert set(await live(world.mirror, world.bravo)) == {visit(1).key}
    assert await world.mirror.resource_ids(clinic_id=world.bravo, since=START) == ["7"]
    plan = await record(world.mirror, world.bravo, listing())  # empty: held, nothing of alpha
    assert plan.held == 1
    assert set(await live(world.mirror, world.alpha)) == {visit(0).key, BLOCK.key}
