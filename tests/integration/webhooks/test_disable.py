"""The 24-hour rule on SQLite and Postgres: a real receiver that always fails, a moved clock."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.logs import ContextFilter
from pims_sync.ports.queue import DeliveryJob
from pims_sync.webhooks.delivery import Deliverer
from tests.integration.webhooks.receiver import Receiver


class Clock:
    """Real time, moved forward by hand."""

    def __init__(self) -> None:
        self.ahead = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.ahead


async def test_failing_for_24_hours_disables_the_endpoint(
    services: Services, clinic: Clinic, receiver: Receiver, caplog: pytest.LogCaptureFixture
) -> None:
    clock = Clock()
    deliverer = Deliverer(
        store=services.webhooks, events=services.events, sender=services.webhook_sender, now=clock
    )
    failing, _ = await services.webhook_admin.add(clinic_id=clinic.id, url=f"{receiver.url}/down")
    listener, _ = await services.webhook_admin.add(
        clinic_id=clinic.id, url=f"{receiver.url}/up", event_types=["webhook.disabled"]
    )
    receiver.script = [503] * 100
    await services.events.append(
        clinic_id=clinic.id, events=[NewEvent(EventType.CASE_CREATED, "c1")], at=clock()
    )
    caplog.handler.addFilter(ContextFilter())
    job = DeliveryJob(failing.id, clinic.id)
    with caplog.at_level(logging.INFO, logger="pims_sync.webhooks"):
        for _ in range(40):
            await deliverer(job)
            state = await services.webhooks.get(failing.id)
            assert state is not None
            if not state.is_active:
                break
            assert state.next_attempt_at is not None
            clock.ahead += state.next_attempt_at - clock()  # straight to the next attempt
    assert not state.is_active
    assert state.failing_since is not None
    assert state.disabled_at is not None
    assert state.disabled_at - state.failing_since >= timedelta(hours=24)
    assert state.disabled_reason is not None
    assert state.disabled_reason.startswith("every delivery failed for 24 h")
    assert state.delivered_seq == 0  # the event was never delivered: its cursor stays
    attempts = await services.webhooks.deliveries(
        clinic_id=clinic.id, endpoint_id=failing.id, limit=100
    )
    assert [a.attempt for a in reversed(attempts)] == list(range(1, len(attempts) + 1))
    assert {(a.status_code, a.error) for a in attempts} == {(503, "answered 503")}
    assert 10 <= len(attempts) <= 14  # the schedule's 9 waits, then every 6 h, to 24 h
    [line] = [r for r in caplog.records if "disabled" in r.getMessage()]
    assert line.levelno == logging.WARNING
    assert getattr(line, "clinic_id", None) == str(clinic.id)
    assert "/down" not in line.getMessage()
    [event] = await services.events.after(clinic_id=clinic.id, after_seq=1, limit=10)
    assert event.type is EventType.WEBHOOK_DISABLED
    assert event.subject_id == str(failing.id)
    assert event.payload["reason"] == state.disabled_reason
    # The clinic's other endpoint hears of it; the disabled one gets nothing more.
    receiver.script = []
    await deliverer(DeliveryJob(listener.id, clinic.id))
    await deliverer(job)
    heard = [r for r in receiver.snapshot() if r.path.endswith("/up")]
    assert [(r.json["type"], r.json["data"]["webhookId"]) for r in heard] == [
        ("webhook.disabled", str(failing.id))
    ]
    assert len([r for r in receiver.snapshot() if r.path.endswith("/down")]) == len(attempts)
