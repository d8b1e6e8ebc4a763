"""Delivery of one endpoint's events against the memory stores: order, retries, disable."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import pytest

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.webhooks import MemoryWebhookStore
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.domain.webhooks import (
    DeliveryOutcome,
    NewEndpoint,
    WebhookEndpoint,
    new_secret,
)
from pims_sync.logs import ContextFilter
from pims_sync.ports.queue import DeliveryJob
from pims_sync.ports.webhooks import SendResult
from pims_sync.webhooks.delivery import Deliverer, DeliveryOptions

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


@dataclass
class Clock:
    """A clock tests move by hand."""

    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Receiver:
    """A sender that records what it would send and answers from a script (then 200)."""

    answers: list[int | None] = field(default_factory=list)
    sent: list[tuple[str, dict[str, object], dict[str, str]]] = field(default_factory=list)

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        self.sent.append((url, json.loads(body), dict(headers)))
        status = self.answers.pop(0) if self.answers else 200
        if status is None:
            return SendResult(None, 5, error="timed out after 10 s")
        return SendResult(status, 3, error=None if status < 300 else f"answered {status}")

    def seqs(self) -> list[int]:
        return [int(body["data"]["seq"]) for _, body, _ in self.sent]  # type: ignore[index]


@dataclass
class World:
    clock: Clock
    events: MemoryEventLog
    store: MemoryWebhookStore
    receiver: Receiver
    deliverer: Deliverer
    clinic: UUID = field(default_factory=uuid.uuid4)

    async def endpoint(self, types: tuple[str, ...] | None = None) -> WebhookEndpoint:
        new = NewEndpoint(self.clinic, "https://hooks.example.com/x", event_types=types)
        return await self.store.add(new, secret=new_secret(), delivered_seq=0, at=T0)

    async def commit(self, *types: EventType) -> None:
        batch = [NewEvent(kind, subject_id=f"case-{n}") for n, kind in enumerate(types)]
        await self.events.append(clinic_id=self.clinic, events=batch, at=self.clock.now)

    async def run(self, endpoint: WebhookEndpoint) -> WebhookEndpoint:
        await self.deliverer(DeliveryJob(endpoint.id, endpoint.clinic_id))
        found = await self.store.get(endpoint.id)
        assert found is not None
        return found


@pytest.fixture
def world() -> World:
    clock, events, receiver = Clock(), MemoryEventLog(), Receiver()
    store = MemoryWebhookStore(events)
    deliverer = Deliverer(
        store=store,
        events=events,
        sender=receiver,
        now=clock,
        draw=lambda: 0.5,
        options=DeliveryOptions(batch=3),
    )
    return World(clock, events, store, receiver, deliverer)


async def test_events_go_out_in_seq_order_across_batches(world: World) -> None:
    endpoint = await world.endpoint()
    await world.commit(*[EventType.CASE_CREATED] * 7)
    after = await world.run(endpoint)
    assert world.receiver.seqs() == [1, 2, 3, 4, 5, 6, 7]
    assert after.delivered_seq == 7
    ids = [headers["Webhook-Id"] for _, _, headers in world.receiver.sent]
    stored = await world.events.after(clinic_id=world.clinic, after_seq=0, limit=10)
    assert ids == [str(event.id) for event in stored]


async def test_the_body_carries_the_event_without_more(world: World) -> None:
    endpoint = await world.endpoint()
    await world.events.append(
        clinic_id=world.clinic,
        events=[NewEvent(EventType.CASE_UPDATED, "case-9", {"changedFields": ["status"]})],
        at=T0,
    )
    await world.run(endpoint)
    [(_, body, headers)] = world.receiver.sent
    assert body == {
        "type": "case.updated",
        "timestamp": "2026-11-20T09:00:00.000Z",
        "data": {
            "changedFields": ["status"],
            "clinicId": str(world.clinic),
            "seq": 1,
            "subjectId": "case-9",
        },
    }
    assert headers["Webhook-Timestamp"] == str(int(T0.timestamp()))
    assert headers["Webhook-Signature"].startswith("v1,")


async def test_unwanted_types_move_the_cursor_without_a_request(world: World) -> None:
    endpoint = await world.endpoint(types=("sync.completed",))
    await world.commit(
        EventType.CASE_CREATED,
        EventType.SYNC_COMPLETED,
        EventType.CASE_CREATED,
        EventType.CASE_CREATED,
        EventType.CASE_UPDATED,
    )
    after = await world.run(endpoint)
    assert world.receiver.seqs() == [2]
    assert after.delivered_seq == 5


async def test_a_failure_holds_back_the_events_behind_it_until_its_retry(world: World) -> None:
    endpoint = await world.endpoint()
    await world.commit(EventType.CASE_CREATED, EventType.CASE_CREATED)
    world.receiver.answers = [500, 503]
    failing = await world.run(endpoint)
    assert world.receiver.seqs() == [1]
    assert (failing.delivered_seq, failing.attempt, failing.failing_since) == (0, 1, T0)
    assert failing.next_attempt_at == T0 + timedelta(seconds=5)
    # Not due yet: the job does nothing.
    world.clock.now = T0 + timedelta(seconds=4)
    await world.run(endpoint)
    assert world.receiver.seqs() == [1]
    world.clock.now = T0 + timedelta(seconds=5)
    again = await world.run(endpoint)
    assert (again.attempt, again.next_attempt_at) == (2, world.clock.now + timedelta(seconds=30))
    world.clock.now += timedelta(seconds=30)
    done = await world.run(endpoint)
    assert world.receiver.seqs() == [1, 1, 1, 2]
    assert (done.delivered_seq, done.attempt, done.failing_since) == (2, 0, None)
    log = await world.store.deliveries(clinic_id=None, endpoint_id=endpoint.id, limit=10)
    assert [(a.seq, a.attempt, a.outcome, a.status_code) for a in reversed(log)] == [
        (1, 1, DeliveryOutcome.FAILED, 500),
        (1, 2, DeliveryOutcome.FAILED, 503),
        (1, 3, DeliveryOutcome.DELIVERED, 200),
        (2, 1, DeliveryOutcome.DELIVERED, 200),
    ]
    ids = {
        headers["Webhook-Id"]
        for _, body, headers in world.receiver.sent
        if body["data"]["seq"] == 1
    }  # type: ignore[index]
    assert len(ids) == 1  # the same id every time: receivers deduplicate on it


@pytest.mark.parametrize("answer", [400, 401, 404, 408, 410, 429, 302, None])
async def test_every_non_2xx_answer_is_retried(world: World, answer: int | None) -> None:
    endpoint = await world.endpoint()
    await world.commit(EventType.CASE_CREATED)
    world.receiver.answers = [answer]
    failing = await world.run(endpoint)
    assert (failing.delivered_seq, failing.attempt) == (0, 1)
    world.clock.now += timedelta(seconds=5)
    assert (await world.run(endpoint)).delivered_seq == 1


async def test_retry_after_is_honoured_when_longer(world: World) -> None:
    endpoint = await world.endpoint()
    await world.commit(EventType.CASE_CREATED)

    async def busy(url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        return SendResult(429, 1, error="answered 429", retry_after_seconds=120)

    world.receiver.send = busy  # type: ignore[method-assign]
    failing = await world.run(endpoint)
    assert failing.next_attempt_at == T0 + timedelta(seconds=120)


async def test_the_scale_shrinks_the_schedule(world: World) -> None:
    scaled = Deliverer(
        store=world.store,
        events=world.events,
        sender=world.receiver,
        now=world.clock,
        draw=lambda: 0.5,
        options=DeliveryOptions(retry_scale=0.01),
    )
    endpoint = await world.endpoint()
    await world.commit(EventType.CASE_CREATED)
    world.receiver.answers = [500]
    await scaled(DeliveryJob(endpoint.id, endpoint.clinic_id))
    failing = await world.store.get(endpoint.id)
    assert failing is not None
    assert failing.next_attempt_at == T0 + timedelta(milliseconds=50)


async def test_failing_for_24_hours_disables_with_a_log_line_and_an_event(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    endpoint = await world.endpoint()
    other = await world.endpoint(types=("webhook.disabled",))
    await world.commit(EventType.CASE_CREATED)
    await world.store.advance(
        endpoint_id=other.id, version=other.updated_at, to_seq=1, delivered=[], at=T0
    )
    world.receiver.answers = [500] * 100
    caplog.handler.addFilter(ContextFilter())
    state = await world.run(endpoint)
    while state.is_active:
        assert state.next_attempt_at is not None
        world.clock.now = state.next_attempt_at
        with caplog.at_level(logging.INFO, logger="pims_sync.webhooks"):
            state = await world.run(endpoint)
    assert world.clock.now - T0 >= timedelta(hours=24)
    assert world.clock.now - T0 < timedelta(hours=24) + timedelta(hours=6) * 1.2
    assert state.disabled_reason is not None
    assert "24 h" in state.disabled_reason
    assert (state.disabled_at, state.next_attempt_at, state.delivered_seq) == (
        world.clock.now,
        None,
        0,
    )
    [line] = [r for r in caplog.records if "disabled" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert getattr(line, "clinic_id", None) == str(world.clinic)  # a clinic-scoped line
    assert "hooks.example.com" in line.getMessage()
    assert "/x" not in line.getMessage()
    events = await world.events.after(clinic_id=world.clinic, after_seq=1, limit=10)
    assert [(e.type, e.subject_id) for e in events] == [
        (EventType.WEBHOOK_DISABLED, str(endpoint.id))
    ]
    assert events[0].payload["webhookId"] == str(endpoint.id)
    # A disabled endpoint gets nothing more; another endpoint gets the event.
    sent = len(world.receiver.sent)
    world.clock.now += timedelta(days=1)
    await world.run(endpoint)
    assert len(world.receiver.sent) == sent
    world.receiver.answers = []
    await world.run(other)
    assert world.receiver.sent[-1][1]["type"] == "webhook.disabled"


async def test_a_replay_during_a_delivery_wins(world: World) -> None:
    endpoint = await world.endpoint()
    await world.commit(*[EventType.CASE_CREATED] * 4)
    original = world.receiver.send

    async def replay_midway(url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        result = await original(url, body, headers)
        if json.loads(body)["data"]["seq"] == 2:
            await world.store.replay(clinic_id=None, endpoint_id=endpoint.id, from_seq=1, at=T0)
        return result

    world.receiver.send = replay_midway  # type: ignore[method-assign]
    after = await world.run(endpoint)
    # The replay set the cursor to where the job started (0): the job learns of it when it
    # writes its cursor (the row's version changed), and leaves the replay's.
    assert world.receiver.seqs() == [1, 2, 3, 4]
    assert after.delivered_seq == 0
    world.receiver.send = original  # type: ignore[method-assign]
    again = await world.run(endpoint)
    assert world.receiver.seqs() == [1, 2, 3, 4, 1, 2, 3, 4]
    assert again.delivered_seq == 4


async def test_the_cursor_is_written_every_hundred_events(world: World) -> None:
    endpoint = await world.endpoint()
    await world.commit(*[EventType.CASE_CREATED] * 250)
    writes: list[int] = []
    advance = world.store.advance

    async def counted(**kwargs: Any) -> bool:
        writes.append(kwargs["to_seq"])
        return await advance(**kwargs)

    world.store.advance = counted  # type: ignore[method-assign]
    after = await world.run(endpoint)
    assert writes == [100, 200, 250]
    assert after.delivered_seq == 250
    log = await world.store.deliveries(clinic_id=None, endpoint_id=endpoint.id, limit=500)
    assert sorted(a.seq for a in log) == list(range(1, 251))


async def test_gone_or_disabled_endpoints_get_nothing(world: World) -> None:
    endpoint = await world.endpoint()
    await world.commit(EventType.CASE_CREATED)
    await world.store.disable(endpoint_id=endpoint.id, reason="test", at=T0)
    await world.deliverer(DeliveryJob(endpoint.id, world.clinic))
    await world.deliverer(DeliveryJob(uuid.uuid4(), world.clinic))
    assert world.receiver.sent == []


async def test_the_pump_queues_due_endpoints_once_and_logs_an_outage_once(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    from pims_sync.errors import JobRefusedError
    from pims_sync.ports.queue import Job
    from pims_sync.webhooks.pump import DeliveryPump

    queued: list[Job] = []

    class Queue:
        async def enqueue(self, job: Job) -> None:
            if job in queued:
                raise JobRefusedError("already waiting")
            queued.append(job)

        async def recover_stalled(self) -> list[Job]:
            return []

    pump = DeliveryPump(store=world.store, queue=Queue(), now=world.clock, interval=0.01)
    caught_up = await world.endpoint()
    behind = await world.endpoint()
    await world.commit(EventType.CASE_CREATED)
    await world.store.advance(
        endpoint_id=caught_up.id, version=caught_up.updated_at, to_seq=1, delivered=[], at=T0
    )
    assert await pump.pump() == 1
    assert await pump.pump() == 0  # one waits already
    assert queued == [DeliveryJob(behind.id, world.clinic)]

    calls = 0

    async def broken(**_: object) -> list[WebhookEndpoint]:
        nonlocal calls
        calls += 1
        if calls >= 5:
            pump.stop()
        raise OSError("database down")

    world.store.due = broken  # type: ignore[method-assign]
    with caplog.at_level(logging.INFO, logger="pims_sync.webhooks"):
        await pump.run()
    failures = [r for r in caplog.records if "pump failed" in r.getMessage()]
    assert calls == 5
    assert len(failures) == 1


async def test_a_failure_during_a_replay_is_logged_and_leaves_the_replay_alone(
    world: World,
) -> None:
    endpoint = await world.endpoint()
    await world.commit(EventType.CASE_CREATED, EventType.CASE_CREATED)

    async def replay_then_fail(url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        await world.store.replay(clinic_id=None, endpoint_id=endpoint.id, from_seq=1, at=T0)
        return SendResult(500, 2, error="answered 500")

    world.receiver.send = replay_then_fail  # type: ignore[method-assign]
    after = await world.run(endpoint)
    assert (after.delivered_seq, after.attempt, after.next_attempt_at) == (0, 0, None)
    log = await world.store.deliveries(clinic_id=None, endpoint_id=endpoint.id, limit=5)
    assert [(a.seq, a.outcome) for a in log] == [(1, DeliveryOutcome.FAILED)]
