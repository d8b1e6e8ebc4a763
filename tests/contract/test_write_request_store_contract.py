"""One contract for the booking write requests: in memory, on SQLite and on Postgres."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from pims_sync.adapters.memory.write_requests import MemoryWriteRequestStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.write_requests import SqlWriteRequestStore
from pims_sync.domain.write_requests import WriteRequest, WriteRoute, WriteState
from pims_sync.ports.write_requests import Claim, WriteRequestStore
from tests.contract.store_backends import MEMORY, database_url

__all__ = ["database_url"]

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
LEASE = timedelta(seconds=120)
HASH = "a" * 64


@dataclass
class World:
    """A store of each kind, two clinics, and how to open another store on the same data."""

    store: WriteRequestStore
    alpha: UUID
    bravo: UUID
    other: Callable[[], WriteRequestStore]


@pytest.fixture
async def world(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[World]:
    if database_url == MEMORY:
        memory = MemoryWriteRequestStore()
        yield World(memory, UUID(int=1), UUID(int=2), lambda: memory)
        return
    url = str(request.getfixturevalue("migrated_database_url"))
    engine = create_async_db_engine(url)
    clinics = SqlClinicStore(engine)
    alpha, bravo = (await clinics.add(name="Alpha")).id, (await clinics.add(name="Bravo")).id
    # Separate engines stand for separate processes sharing the database.
    engines = [engine]

    def other() -> WriteRequestStore:
        engines.append(create_async_db_engine(url))
        return SqlWriteRequestStore(engines[-1])

    try:
        yield World(SqlWriteRequestStore(engine), alpha, bravo, other)
    finally:
        for each in engines:
            await each.dispose()


async def claim(
    store: WriteRequestStore,
    clinic: UUID,
    key: str = "key-1",
    *,
    digest: str = HASH,
    at: datetime = T0,
) -> Claim:
    return await store.claim(
        clinic_id=clinic, key=key, route=WriteRoute.CREATE, body_hash=digest, now=at, lease=LEASE
    )


async def test_a_new_key_is_claimed_pending_under_a_lease(world: World) -> None:
    first = await claim(world.store, world.alpha)

    assert first.claimed
    request = first.request
    assert (request.clinic_id, request.key, request.route) == (
        world.alpha,
        "key-1",
        WriteRoute.CREATE,
    )
    assert (request.state, request.attempt, request.body_hash) == (WriteState.PENDING, 1, HASH)
    assert (request.lease_until, request.created_at, request.result) == (T0 + LEASE, T0, {})
    assert await world.store.get(clinic_id=world.alpha, key="key-1") == request


async def test_a_stored_key_is_given_back_as_it_is_never_claimed_again(world: World) -> None:
    first = await claim(world.store, world.alpha)
    again = await claim(world.store, world.alpha, digest="b" * 64, at=T0 + timedelta(hours=1))

    assert not again.claimed
    assert again.request == first.request  # the first body's hash, the first lease


async def test_keys_are_per_clinic(world: World) -> None:
    alpha = await claim(world.store, world.alpha)
    bravo = await claim(world.store, world.bravo, digest="b" * 64)

    assert alpha.claimed
    assert bravo.claimed
    assert await world.store.get(clinic_id=world.alpha, key="key-1") == alpha.request
    assert await world.store.get(clinic_id=world.bravo, key="key-1") == bravo.request
    assert await world.store.get(clinic_id=world.bravo, key="key-2") is None


async def test_of_many_callers_at_once_exactly_one_claims(world: World) -> None:
    stores = [world.other() for _ in range(4)]
    claims = await asyncio.gather(*(claim(store, world.alpha) for store in stores * 5))

    assert sum(c.claimed for c in claims) == 1
    assert {c.request.attempt for c in claims} == {1}
    assert len({c.request.created_at for c in claims}) == 1


async def test_progress_keeps_the_lease_an_outcome_ends_it(world: World) -> None:
    held = (await claim(world.store, world.alpha)).request
    progress = {"phase": "sent", "before": ["101", "102"]}

    saved = await world.store.save(
        held, state=WriteState.PENDING, result=progress, now=T0 + timedelta(seconds=1)
    )
    assert saved is not None
    assert (saved.state, saved.result, saved.lease_until) == (
        WriteState.PENDING,
        progress,
        T0 + LEASE,
    )

    answer = {"appointment": {"id": "103", "start": "2026-06-02T09:00:00-07:00"}, "ü": "ß"}
    done = await world.store.save(
        saved, state=WriteState.SUCCEEDED, result=answer, now=T0 + timedelta(seconds=2)
    )
    assert done is not None
    assert (done.state, done.result, done.lease_until) == (WriteState.SUCCEEDED, answer, None)
    assert done.updated_at == T0 + timedelta(seconds=2)
    assert await world.store.get(clinic_id=world.alpha, key="key-1") == done


async def test_a_take_over_moves_to_the_next_attempt_once(world: World) -> None:
    held = (await claim(world.store, world.alpha)).request
    unknown = await world.store.save(
        held, state=WriteState.UNKNOWN, result={"phase": "sent"}, now=T0
    )
    assert unknown is not None
    later = T0 + timedelta(minutes=5)

    stores = [world.other() for _ in range(3)]
    taken = await asyncio.gather(
        *(store.take_over(unknown, now=later, lease=LEASE) for store in stores * 2)
    )

    winners = [t for t in taken if t is not None]
    assert len(winners) == 1
    winner = winners[0]
    assert (winner.state, winner.attempt, winner.lease_until) == (
        WriteState.PENDING,
        2,
        later + LEASE,
    )
    assert winner.result == {"phase": "sent"}  # the progress is what the next attempt reads


async def test_a_request_taken_over_cannot_be_saved_by_its_old_attempt(world: World) -> None:
    held = (await claim(world.store, world.alpha)).request
    taken = await world.store.take_over(held, now=T0 + LEASE, lease=LEASE)
    assert taken is not None

    stale = await world.store.save(held, state=WriteState.SUCCEEDED, result={"x": 1}, now=T0)

    assert stale is None
    stored = await world.store.get(clinic_id=world.alpha, key="key-1")
    assert stored == taken


async def test_another_clinic_cannot_touch_a_request(world: World) -> None:
    held = (await claim(world.store, world.alpha)).request
    forged = WriteRequest(
        clinic_id=world.bravo,
        key=held.key,
        route=held.route,
        body_hash=held.body_hash,
        state=held.state,
        attempt=held.attempt,
        created_at=held.created_at,
        updated_at=held.updated_at,
    )

    assert await world.store.save(forged, state=WriteState.FAILED, result={}, now=T0) is None
    assert await world.store.take_over(forged, now=T0, lease=LEASE) is None
    assert await world.store.get(clinic_id=world.alpha, key="key-1") == held
