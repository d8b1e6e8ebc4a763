"""One contract for the holds store: in memory, on SQLite and on Postgres.

A hold goes on the first column the caller's `fits` gives that is still free; two live
holds of one column never overlap; an expired hold stops counting at once (and is marked
ended when a new hold needs its time); release ends a live one; a clinic sees its own.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID, uuid4

import pytest

from pims_sync.adapters.memory.mirror import MemoryHoldStore, MemoryScheduleMirror
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.holds import SqlHoldStore
from pims_sync.adapters.sql.mirror import SqlScheduleMirror
from pims_sync.domain.availability import HeldTime, Schedule
from pims_sync.domain.holds import Hold, HoldState, NewHold
from pims_sync.domain.mirror import EntryKind, MirrorEntry, MirrorListing
from pims_sync.ports.holds import Fits, HoldStore
from pims_sync.ports.mirror import ScheduleMirror
from tests.contract.store_backends import MEMORY, database_url

__all__ = ["database_url"]

NOW = datetime(2026, 6, 10, 15, tzinfo=UTC)
START = NOW + timedelta(days=1)
WINDOW = (START - timedelta(hours=4), START + timedelta(hours=4))


def new(minutes_in: int = 0, length: int = 30, ttl: int = 300) -> NewHold:
    start = START + timedelta(minutes=minutes_in)
    end = start + timedelta(minutes=length)
    return NewHold(start, end, start, end, NOW + timedelta(seconds=ttl), reference="call-1")


def columns(*names: str) -> Fits:
    """A `fits` that offers these columns, minus those the schedule shows busy at START."""

    def fits(schedule: Schedule) -> Sequence[str]:
        busy = {
            h.resource_id for h in schedule.holds if h.busy_from < START + timedelta(minutes=30)
        }
        busy |= {e.resource_id for e in schedule.entries if e.resource_id}
        return [name for name in names if name not in busy]

    return fits


@dataclass
class World:
    holds: HoldStore
    mirror: ScheduleMirror
    alpha: UUID
    bravo: UUID


@pytest.fixture
async def world(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if database_url == MEMORY:
        mirror = MemoryScheduleMirror()
        yield World(MemoryHoldStore(mirror), mirror, UUID(int=1), UUID(int=2))
        return
    engine = create_async_db_engine(str(request.getfixturevalue("migrated_database_url")))
    clinics = SqlClinicStore(engine)
    alpha, bravo = (await clinics.add(name="Alpha")).id, (await clinics.add(name="Bravo")).id
    try:
        yield World(SqlHoldStore(engine), SqlScheduleMirror(engine), alpha, bravo)
    finally:
        await engine.dispose()


async def place(
    world: World, hold: NewHold, *names: str, clinic: UUID | None = None, now: datetime = NOW
) -> Hold | None:
    return await world.holds.place(
        clinic_id=clinic or world.alpha, hold=hold, window=WINDOW, fits=columns(*names), now=now
    )


async def test_a_hold_takes_the_first_free_column_and_is_read_back(world: World) -> None:
    placed = await place(world, new(), "7", "8")
    assert placed is not None
    assert (placed.resource_id, placed.start, placed.reference) == ("7", START, "call-1")
    assert placed.state(NOW) is HoldState.LIVE
    assert await world.holds.get(clinic_id=world.alpha, hold_id=placed.id) == placed
    second = await place(world, new(15), "7", "8")
    assert second is not None
    assert second.resource_id == "8"
    assert await place(world, new(10), "7", "8") is None
    live = await world.holds.live_between(
        clinic_id=world.alpha, start=WINDOW[0], end=WINDOW[1], now=NOW
    )
    assert sorted(live, key=lambda h: h.resource_id) == [
        HeldTime("7", START, START + timedelta(minutes=30)),
        HeldTime("8", START + timedelta(minutes=15), START + timedelta(minutes=45)),
    ]


async def test_overlap_is_refused_even_when_fits_says_free(world: World) -> None:
    """The store's own guard: a caller that offers a busy column does not get it."""
    assert await place(world, new(), "7") is not None

    def blind(_: Schedule) -> Sequence[str]:
        return ["7"]

    refused = await world.holds.place(
        clinic_id=world.alpha, hold=new(20), window=WINDOW, fits=blind, now=NOW
    )
    assert refused is None
    touching = await world.holds.place(
        clinic_id=world.alpha, hold=new(30), window=WINDOW, fits=blind, now=NOW
    )
    assert touching is not None  # [start, end): a hold may start when another ends


async def test_an_expired_hold_stops_counting_at_once(world: World) -> None:
    first = await place(world, new(ttl=60), "7")
    assert first is not None
    later = NOW + timedelta(seconds=61)
    assert (
        await world.holds.live_between(
            clinic_id=world.alpha, start=WINDOW[0], end=WINDOW[1], now=later
        )
        == []
    )
    second = await place(world, new(), "7", now=later)
    assert second is not None
    assert second.resource_id == "7"
    ended = await world.holds.get(clinic_id=world.alpha, hold_id=first.id)
    assert ended is not None
    assert ended.state(later) is HoldState.EXPIRED


async def test_release_ends_a_live_hold_and_frees_its_time(world: World) -> None:
    placed = await place(world, new(), "7")
    assert placed is not None
    later = NOW + timedelta(seconds=5)
    released = await world.holds.release(clinic_id=world.alpha, hold_id=placed.id, now=later)
    assert released is not None
    assert (released.released_at, released.state(later)) == (later, HoldState.RELEASED)
    again = await world.holds.release(
        clinic_id=world.alpha, hold_id=placed.id, now=later + timedelta(seconds=1)
    )
    assert again == released  # a second release changes nothing
    assert await place(world, new(), "7", now=later) is not None
    assert await world.holds.release(clinic_id=world.alpha, hold_id=uuid4(), now=later) is None


async def test_the_mirror_is_read_in_the_same_decision(world: World) -> None:
    block = MirrorEntry("b1", EntryKind.BLOCK, START, START + timedelta(hours=1), "7")
    listing = MirrorListing(
        START - timedelta(hours=12), START + timedelta(hours=12), {block.key: block}
    )
    await world.mirror.record(clinic_id=world.alpha, listing=listing, days=[], now=NOW)
    placed = await place(world, new(), "7", "8")
    assert placed is not None
    assert placed.resource_id == "8"


async def test_a_clinic_sees_and_releases_only_its_own_holds(world: World) -> None:
    alpha = await place(world, new(), "7")
    assert alpha is not None
    bravo = await place(world, new(), "7", clinic=world.bravo)  # its own column 7: free
    assert bravo is not None
    assert await world.holds.get(clinic_id=world.bravo, hold_id=alpha.id) is None
    assert await world.holds.release(clinic_id=world.bravo, hold_id=alpha.id, now=NOW) is None
    still = await world.holds.get(clinic_id=world.alpha, hold_id=alpha.id)
    assert still is not None
    assert still.state(NOW) is HoldState.LIVE
    live = await world.holds.live_between(
        clinic_id=world.bravo, start=WINDOW[0], end=WINDOW[1], now=NOW
    )
    assert len(live) == 1
