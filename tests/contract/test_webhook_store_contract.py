"""WebhookStore contract: memory, SQLite and Postgres keep endpoints and cursors the same."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.webhooks import MemoryWebhookStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.outbox import SqlEventLog
from pims_sync.adapters.sql.tables import webhook_endpoints
from pims_sync.adapters.sql.webhooks import SqlWebhookStore
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.domain.webhooks import (
    DeliveryAttempt,
    DeliveryOutcome,
    NewEndpoint,
    WebhookEndpoint,
    new_secret,
)
from pims_sync.errors import DecryptionError
from pims_sync.ports.events import EventLog
from pims_sync.ports.webhooks import WebhookStore
from tests.contract.store_backends import MEMORY, database_url

__all__ = ["database_url"]

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
KEY = "contract-encryption-key-0123456789abcdef"
URL = "https://hooks.example.com/pims?token=abc"


@dataclass
class Hooks:
    """The store under test, the event log beside it, and how to make clinics."""

    store: WebhookStore
    events: EventLog
    engine: AsyncEngine | None

    async def clinic(self) -> UUID:
        """A new clinic (a row on SQL: the foreign keys need it)."""
        if self.engine is None:
            return uuid.uuid4()
        return (await SqlClinicStore(self.engine).add(name="Happy Paws")).id

    async def endpoint(self, clinic_id: UUID, **fields: object) -> WebhookEndpoint:
        """An endpoint with a cursor at 0 (unless said otherwise)."""
        new = NewEndpoint(clinic_id, URL, **fields)  # type: ignore[arg-type]
        return await self.store.add(new, secret=new_secret(), delivered_seq=0, at=T0)

    async def events_for(self, clinic_id: UUID, count: int) -> None:
        """Commit `count` events for the clinic."""
        batch = [NewEvent(EventType.CASE_CREATED, subject_id=str(n)) for n in range(count)]
        await self.events.append(clinic_id=clinic_id, events=batch, at=T0)


@pytest.fixture
async def hooks(database_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Hooks]:
    """A store of each kind, on an empty (migrated) database."""
    if database_url == MEMORY:
        events = MemoryEventLog()
        yield Hooks(MemoryWebhookStore(events), events, None)
        return
    url = str(request.getfixturevalue("migrated_database_url"))
    engine = create_async_db_engine(url)
    try:
        yield Hooks(SqlWebhookStore(engine, lambda: KEY), SqlEventLog(engine), engine)
    finally:
        await engine.dispose()


async def version(hooks: Hooks, endpoint: WebhookEndpoint) -> datetime:
    """The endpoint's version as stored now."""
    found = await hooks.store.get(endpoint.id)
    assert found is not None
    return found.updated_at


async def advance(
    hooks: Hooks,
    endpoint: WebhookEndpoint,
    to_seq: int,
    delivered: list[DeliveryAttempt],
    at_version: datetime | None = None,
) -> datetime | None:
    """Move the endpoint's cursor to `to_seq` from its current (or this) version."""
    known = at_version or await version(hooks, endpoint)
    return await hooks.store.advance(
        endpoint_id=endpoint.id, version=known, to_seq=to_seq, delivered=delivered, at=T0
    )


async def failed(
    hooks: Hooks,
    attempt: DeliveryAttempt,
    *,
    next_attempt_at: datetime | None = None,
    at_version: datetime | None = None,
) -> datetime | None:
    """Record a failed attempt from the endpoint's current (or this) version."""
    found = await hooks.store.get(attempt.endpoint_id)
    assert found is not None
    return await hooks.store.failed(
        attempt,
        version=at_version or found.updated_at,
        next_attempt_at=next_attempt_at,
        failing_since=T0,
    )


def attempt(
    endpoint: WebhookEndpoint, seq: int, number: int = 1, *, ok: bool = True, at: datetime = T0
) -> DeliveryAttempt:
    """One attempt at seq for the endpoint."""
    return DeliveryAttempt(
        endpoint_id=endpoint.id,
        clinic_id=endpoint.clinic_id,
        event_id=uuid.uuid4(),
        seq=seq,
        attempt=number,
        outcome=DeliveryOutcome.DELIVERED if ok else DeliveryOutcome.FAILED,
        status_code=200 if ok else 500,
        duration_ms=12,
        error=None if ok else "answered 500",
        attempted_at=at,
    )


async def test_add_keeps_what_was_given_and_the_secret(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    secret = new_secret()
    new = NewEndpoint(clinic, URL, event_types=("case.created",), description="calls")
    added = await hooks.store.add(new, secret=secret, delivered_seq=7, at=T0)
    assert (added.url, added.event_types, added.description) == (URL, ("case.created",), "calls")
    assert (added.is_active, added.delivered_seq, added.attempt) == (True, 7, 0)
    assert added.next_attempt_at is None
    assert added.failing_since is None
    assert await hooks.store.get(added.id) == added
    assert await hooks.store.secret(added) == secret


async def test_every_type_is_none_not_an_empty_list(hooks: Hooks) -> None:
    added = await hooks.endpoint(await hooks.clinic())
    fetched = await hooks.store.get(added.id)
    assert fetched is not None
    assert fetched.event_types is None


async def test_a_clinic_sees_only_its_own_endpoints(hooks: Hooks) -> None:
    mine, other = await hooks.clinic(), await hooks.clinic()
    first = await hooks.endpoint(mine)
    theirs = await hooks.endpoint(other)
    assert [e.id for e in await hooks.store.endpoints(mine)] == [first.id]
    assert {e.id for e in await hooks.store.endpoints(None)} == {first.id, theirs.id}
    assert await hooks.store.get(theirs.id, clinic_id=mine) is None
    assert not await hooks.store.remove(clinic_id=mine, endpoint_id=theirs.id)
    assert (
        await hooks.store.replay(clinic_id=mine, endpoint_id=theirs.id, from_seq=1, at=T0) is None
    )
    assert await hooks.store.get(theirs.id) is not None


async def test_remove_takes_the_delivery_log_with_it(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    await hooks.store.log_attempt(attempt(endpoint, 0))
    assert await hooks.store.remove(clinic_id=clinic, endpoint_id=endpoint.id)
    assert await hooks.store.get(endpoint.id) is None
    assert await hooks.store.deliveries(clinic_id=None, endpoint_id=endpoint.id, limit=10) == []
    assert not await hooks.store.remove(clinic_id=clinic, endpoint_id=endpoint.id)


async def test_due_wants_events_past_the_cursor_and_no_retry_waiting(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    assert await hooks.store.due(at=T0, limit=10) == []  # no events yet
    await hooks.events_for(clinic, 2)
    assert [e.id for e in await hooks.store.due(at=T0, limit=10)] == [endpoint.id]
    later = T0 + timedelta(seconds=30)
    assert await failed(hooks, attempt(endpoint, 1, ok=False), next_attempt_at=later)
    assert await hooks.store.due(at=T0, limit=10) == []
    assert [e.id for e in await hooks.store.due(at=later, limit=10)] == [endpoint.id]


async def test_due_leaves_out_caught_up_and_disabled_endpoints(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    caught_up = await hooks.endpoint(clinic)
    disabled = await hooks.endpoint(clinic)
    await hooks.events_for(clinic, 1)
    assert await advance(hooks, caught_up, 1, [attempt(caught_up, 1)])
    assert await hooks.store.disable(endpoint_id=disabled.id, reason="failing", at=T0)
    assert await hooks.store.due(at=T0, limit=10) == []


async def test_delivered_moves_the_cursor_and_clears_the_retry_state(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    later = T0 + timedelta(seconds=5)
    assert await failed(hooks, attempt(endpoint, 1, ok=False), next_attempt_at=later)
    failing = await hooks.store.get(endpoint.id)
    assert failing is not None
    assert (failing.attempt, failing.next_attempt_at, failing.failing_since) == (1, later, T0)
    assert failing.delivered_seq == 0
    assert await advance(hooks, endpoint, 1, [attempt(endpoint, 1, 2, at=later)])
    done = await hooks.store.get(endpoint.id)
    assert done is not None
    assert (done.delivered_seq, done.attempt, done.next_attempt_at, done.failing_since) == (
        1,
        0,
        None,
        None,
    )


async def test_every_write_is_a_later_version(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    assert endpoint.updated_at == T0
    first = await advance(hooks, endpoint, 1, [])
    assert first is not None
    assert first > T0  # written at T0 again: still a later version
    assert await version(hooks, endpoint) == first
    second = await failed(hooks, attempt(endpoint, 2, ok=False))
    assert second is not None
    assert second > first
    assert await version(hooks, endpoint) == second


async def test_a_replay_meanwhile_wins(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    await hooks.events_for(clinic, 5)
    read = await version(hooks, endpoint)  # what a delivery job read
    # Replayed to the very cursor the job read: the cursor alone would not tell.
    replayed = await hooks.store.replay(
        clinic_id=clinic, endpoint_id=endpoint.id, from_seq=1, at=T0
    )
    assert replayed is not None
    assert replayed.delivered_seq == 0
    assert not await advance(hooks, endpoint, 3, [attempt(endpoint, 3)], at_version=read)
    assert not await failed(hooks, attempt(endpoint, 4, ok=False), at_version=read)
    after = await hooks.store.get(endpoint.id)
    assert after is not None
    assert (after.delivered_seq, after.attempt, after.updated_at) == (0, 0, replayed.updated_at)
    assert await advance(hooks, endpoint, 5, [])
    moved = await hooks.store.get(endpoint.id)
    assert moved is not None
    assert moved.delivered_seq == 5


async def test_replay_re_enables_a_disabled_endpoint(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    assert await failed(hooks, attempt(endpoint, 1, 9, ok=False))
    assert await hooks.store.disable(endpoint_id=endpoint.id, reason="failed 24 h", at=T0)
    assert not await hooks.store.disable(endpoint_id=endpoint.id, reason="again", at=T0)
    disabled = await hooks.store.get(endpoint.id)
    assert disabled is not None
    assert (disabled.is_active, disabled.disabled_reason, disabled.disabled_at) == (
        False,
        "failed 24 h",
        T0,
    )
    replayed = await hooks.store.replay(clinic_id=None, endpoint_id=endpoint.id, from_seq=1, at=T0)
    assert replayed is not None
    assert (replayed.is_active, replayed.disabled_reason, replayed.attempt) == (True, None, 0)
    assert (replayed.delivered_seq, replayed.failing_since) == (0, None)


async def test_advance_logs_every_delivered_attempt_at_once(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    sent = [attempt(endpoint, seq, at=T0 + timedelta(seconds=seq)) for seq in (1, 2, 4)]
    assert await advance(hooks, endpoint, 6, sent)  # 3, 5 and 6: not wanted
    log = await hooks.store.deliveries(clinic_id=clinic, endpoint_id=endpoint.id, limit=10)
    assert [(a.seq, a.outcome, a.event_id) for a in log] == [
        (a.seq, DeliveryOutcome.DELIVERED, a.event_id) for a in reversed(sent)
    ]
    moved = await hooks.store.get(endpoint.id)
    assert moved is not None
    assert moved.delivered_seq == 6


async def test_the_delivery_log_is_newest_first_and_limited(hooks: Hooks) -> None:
    clinic = await hooks.clinic()
    endpoint = await hooks.endpoint(clinic)
    for n in range(1, 4):
        moment = T0 + timedelta(seconds=n)
        assert await failed(hooks, attempt(endpoint, 1, n, ok=False, at=moment))
    log = await hooks.store.deliveries(clinic_id=clinic, endpoint_id=endpoint.id, limit=2)
    assert [(a.attempt, a.outcome, a.status_code) for a in log] == [
        (3, DeliveryOutcome.FAILED, 500),
        (2, DeliveryOutcome.FAILED, 500),
    ]
    assert log[0].error == "answered 500"
    assert log[0].duration_ms == 12
    other = await hooks.clinic()
    assert await hooks.store.deliveries(clinic_id=other, endpoint_id=endpoint.id, limit=5) == []


async def test_secrets_are_sealed_bound_to_their_clinic(hooks: Hooks) -> None:
    if hooks.engine is None:
        pytest.skip("encryption at rest is the SQL store's")
    clinic = await hooks.clinic()
    secret = new_secret()
    endpoint = await hooks.store.add(
        NewEndpoint(clinic, URL), secret=secret, delivered_seq=0, at=T0
    )
    async with hooks.engine.connect() as conn:
        sealed = (
            await conn.execute(
                select(webhook_endpoints.c.encrypted_secret).where(
                    webhook_endpoints.c.id == endpoint.id
                )
            )
        ).scalar_one()
    assert secret not in sealed
    assert secret.removeprefix("whsec_") not in sealed
    wrong_key = SqlWebhookStore(hooks.engine, lambda: "another-key-0123456789abcdef-0123456")
    with pytest.raises(DecryptionError, match=f"webhook {endpoint.id}"):
        await wrong_key.secret(endpoint)
    rotated = SqlWebhookStore(
        hooks.engine, lambda: "another-key-0123456789abcdef-0123456", previous_key=KEY
    )
    assert await rotated.secret(endpoint) == secret
