"""Webhooks end to end on SQLite and Postgres: real queue, real receiver on 127.0.0.1."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

import httpx

from pims_sync.bootstrap import Services
from pims_sync.cli.runtime import Runtime
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.outbox import EventType, NewEvent
from tests.integration.webhooks.receiver import Receiver, signature_ok


async def commit(
    services: Services, clinic: Clinic, count: int, kind: EventType = EventType.CASE_CREATED
) -> None:
    """Commit `count` events of the clinic in one transaction."""
    batch = [
        NewEvent(kind, subject_id=f"case-{n}", payload={"status": "draft"}) for n in range(count)
    ]
    await services.events.append(clinic_id=clinic.id, events=batch, at=datetime.now(UTC))


async def add(api: httpx.AsyncClient, url: str, **body: object) -> tuple[UUID, str]:
    """Add an endpoint through the API; its id and secret."""
    answer = await api.post("/api/webhooks", json={"url": url, **body})
    assert answer.status_code == 201, answer.text
    created = answer.json()
    return UUID(created["webhook"]["id"]), created["secret"]


async def settle(receiver: Receiver, count: int) -> None:
    """Wait (without blocking the loop) until the receiver has `count` requests."""
    await asyncio.to_thread(receiver.wait_for, lambda seen: len(seen) >= count)


async def test_500_twice_then_200_delivers_on_the_third_attempt(
    services: Services, clinic: Clinic, runtime: Runtime, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint, secret = await add(api, receiver.url)
    receiver.script = [500, 500]
    await commit(services, clinic, 1)
    seen = await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= 3)
    assert [r.seq for r in seen] == [1, 1, 1]
    assert len({r.webhook_id for r in seen}) == 1  # the same event, the same id
    assert all(signature_ok(secret, r) for r in seen)
    assert not signature_ok(secret.replace(secret[8], "A" if secret[8] != "A" else "B"), seen[0])
    for _ in range(100):  # the log row is written just after the receiver answered
        log = (await api.get(f"/api/webhooks/{endpoint}/deliveries")).json()["deliveries"]
        if len(log) == 3:
            break
        await asyncio.sleep(0.02)
    assert [(d["attempt"], d["outcome"], d.get("statusCode")) for d in reversed(log)] == [
        (1, "failed", 500),
        (2, "failed", 500),
        (3, "delivered", 200),
    ]
    assert {d["eventId"] for d in log} == {seen[0].webhook_id}
    state = (await api.get(f"/api/webhooks/{endpoint}")).json()
    assert (state["deliveredSeq"], state["failedAttempts"]) == (1, 0)
    assert "nextAttemptAt" not in state


async def test_events_arrive_in_seq_order_each_once(
    services: Services, clinic: Clinic, runtime: Runtime, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await add(api, receiver.url)
    for size in (5, 1, 20, 3, 11):
        await commit(services, clinic, size)
    seen = await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= 40)
    await asyncio.sleep(0.3)  # nothing more comes
    seen = receiver.snapshot()
    assert [r.seq for r in seen] == list(range(1, 41))
    assert len({r.webhook_id for r in seen}) == 40
    stored = await services.events.after(clinic_id=clinic.id, after_seq=0, limit=100)
    assert [r.webhook_id for r in seen] == [str(event.id) for event in stored]
    assert seen[0].json["type"] == "case.created"
    assert seen[0].json["data"]["clinicId"] == str(clinic.id)


async def test_an_endpoint_gets_only_its_types_and_events_from_its_creation(
    services: Services, clinic: Clinic, runtime: Runtime, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    await commit(services, clinic, 3)  # before the endpoint: not sent (replay would)
    await add(api, receiver.url, events=["sync.completed"])
    await commit(services, clinic, 2)
    await commit(services, clinic, 1, EventType.SYNC_COMPLETED)
    seen = await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= 1)
    await asyncio.sleep(0.3)
    seen = receiver.snapshot()
    assert [(r.seq, r.json["type"]) for r in seen] == [(6, "sync.completed")]


async def test_replay_resends_from_a_seq(
    services: Services, clinic: Clinic, runtime: Runtime, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint, _ = await add(api, receiver.url)
    await commit(services, clinic, 6)
    first = await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= 6)
    answer = await api.post(f"/api/webhooks/{endpoint}/replay", params={"fromSeq": 4})
    assert answer.status_code == 202, answer.text
    assert answer.json()["webhook"]["deliveredSeq"] == 3
    seen = await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= 9)
    assert [r.seq for r in seen] == [1, 2, 3, 4, 5, 6, 4, 5, 6]
    assert [r.webhook_id for r in seen[6:]] == [r.webhook_id for r in first[3:6]]


async def test_a_slow_receiver_times_out_and_is_retried(
    services: Services, clinic: Clinic, runtime: Runtime, api: httpx.AsyncClient, receiver: Receiver
) -> None:
    endpoint, _ = await add(api, receiver.url)
    calls: list[int] = []

    def slow_once(_: object) -> None:
        calls.append(1)
        if len(calls) == 1:
            import time

            time.sleep(2.5)  # past WEBHOOKS_TIMEOUT_SECONDS=2

    receiver.on_request = slow_once
    await commit(services, clinic, 1)
    await asyncio.to_thread(receiver.wait_for, lambda got: len(got) >= 2, 15)
    for _ in range(100):
        log = (await api.get(f"/api/webhooks/{endpoint}/deliveries")).json()["deliveries"]
        if len(log) >= 2:
            break
        await asyncio.sleep(0.05)
    oldest = log[-1]
    assert oldest["outcome"] == "failed"
    assert "statusCode" not in oldest
    assert oldest["error"] == "timed out after 2 s"
    assert log[0]["outcome"] == "delivered"
