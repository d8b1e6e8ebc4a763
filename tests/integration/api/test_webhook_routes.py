"""`/api/webhooks` on SQLite and Postgres: permission, clinic scope, URL rules, golden answers."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import httpx
import pytest

from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.domain.webhooks import DeliveryAttempt, DeliveryOutcome
from tests.integration.api.conftest import api_settings, client_for, insert_key
from tests.integration.api.golden import golden, record
from tests.integration.webhooks.conftest import webhook_settings

SECRET = re.compile(r"^whsec_[A-Za-z0-9+/]{43}=$")
PUBLIC_URL = "http://93.184.216.34/hooks"  # a public address literal: no lookup needed


@pytest.fixture
async def strict(migrated_database_url: str) -> AsyncIterator[Services]:
    """Services with the production rule: no private webhook targets."""
    built = build_services(api_settings(migrated_database_url))
    try:
        yield built
    finally:
        await built.aclose()


async def keyed(
    services: Services, clinic: Clinic, permissions: list[str] | None
) -> httpx.AsyncClient:
    """A client of the app whose key belongs to the clinic."""
    _, key = await insert_key(services, clinic_id=clinic.id, permissions=permissions)
    http = client_for(create_app(services.settings, services))
    http.headers["X-API-Key"] = key
    return http


async def test_webhook_answers_hold_their_shape(strict: Services) -> None:
    clinic = await strict.clinics.add(name="Happy Paws", timezone="America/Chicago")
    async with await keyed(strict, clinic, ["webhooks:manage"]) as http:
        created = await http.post(
            "/api/webhooks",
            json={
                "url": PUBLIC_URL,
                "events": ["case.created", "case.updated"],
                "description": "calls",
            },
        )
        assert created.status_code == 201, created.text
        body = created.json()
        assert SECRET.match(body["secret"])
        golden("webhook-created", record(created, {**body, "secret": "whsec_<base64>"}))
        webhook = body["webhook"]["id"]
        everything = await http.post("/api/webhooks", json={"url": PUBLIC_URL})
        golden(
            "webhook-created-all-types",
            record(everything, {**everything.json(), "secret": "whsec_<base64>"}),
        )
        golden("webhooks-list", await http.get("/api/webhooks"))
        golden("webhook", await http.get(f"/api/webhooks/{webhook}"))
        await strict.events.append(
            clinic_id=clinic.id,
            events=[NewEvent(EventType.CASE_CREATED, subject_id="c1") for _ in range(3)],
            at=datetime.now(UTC),
        )
        await log_two_attempts(strict, clinic, uuid.UUID(webhook))
        golden("webhook-deliveries", await http.get(f"/api/webhooks/{webhook}/deliveries"))
        golden("webhook-replay", await http.post(f"/api/webhooks/{webhook}/replay?fromSeq=2"))
        golden("webhook-removed", await http.delete(f"/api/webhooks/{webhook}"))
        golden("error-404-webhook-not-found", await http.delete(f"/api/webhooks/{webhook}"))
        golden(
            "error-400-webhook-url-refused",
            await http.post("/api/webhooks", json={"url": "http://127.0.0.1:8080/hooks"}),
        )


async def log_two_attempts(services: Services, clinic: Clinic, webhook: uuid.UUID) -> None:
    """A failed then a delivered attempt at seq 1, as a delivery job logs them."""
    event = (await services.events.after(clinic_id=clinic.id, after_seq=0, limit=1))[0]
    for number, status in ((1, 503), (2, 200)):
        attempt = DeliveryAttempt(
            endpoint_id=webhook,
            clinic_id=clinic.id,
            event_id=event.id,
            seq=1,
            attempt=number,
            outcome=DeliveryOutcome.DELIVERED if status == 200 else DeliveryOutcome.FAILED,
            status_code=status,
            duration_ms=40,
            error=None if status == 200 else "answered 503",
            attempted_at=datetime.now(UTC),
        )
        await services.webhooks.log_attempt(attempt)


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1:9/hooks", "private, loopback or link-local"),
        ("http://localhost/hooks", "private, loopback or link-local"),
        ("http://169.254.169.254/latest/meta-data", "private, loopback or link-local"),
        ("http://10.0.0.7/hooks", "private, loopback or link-local"),
        ("http://[::1]/hooks", "private, loopback or link-local"),
        ("ftp://example.com/hooks", "http:// or https://"),
        ("https://user:secret@example.com/", "user name or password"),
        ("https://no-such-host.invalid/hooks", "does not resolve"),
    ],
)
async def test_refused_urls_are_400_and_store_nothing(
    strict: Services, url: str, words: str
) -> None:
    clinic = await strict.clinics.add(name="Happy Paws")
    async with await keyed(strict, clinic, ["webhooks:manage"]) as http:
        answer = await http.post("/api/webhooks", json={"url": url})
        assert answer.status_code == 400, answer.text
        assert answer.json()["code"] == "webhook_url_refused"
        assert words in answer.json()["error"]
        assert "secret" not in answer.json()["error"]
        assert (await http.get("/api/webhooks")).json()["webhooks"] == []


async def test_loopback_is_allowed_with_the_setting(migrated_database_url: str) -> None:
    services = build_services(webhook_settings(migrated_database_url))
    try:
        clinic = await services.clinics.add(name="Happy Paws")
        async with await keyed(services, clinic, ["webhooks:manage"]) as http:
            answer = await http.post("/api/webhooks", json={"url": "http://127.0.0.1:9/hooks"})
            assert answer.status_code == 201, answer.text
    finally:
        await services.aclose()


async def test_bad_input_is_400_and_stores_nothing(strict: Services) -> None:
    clinic = await strict.clinics.add(name="Happy Paws")
    async with await keyed(strict, clinic, ["webhooks:manage"]) as http:
        unknown = await http.post(
            "/api/webhooks", json={"url": PUBLIC_URL, "events": ["case.made"]}
        )
        assert unknown.status_code == 400
        assert unknown.json()["code"] == "invalid_input"
        assert "unknown event type 'case.made'" in unknown.json()["error"]
        empty = await http.post("/api/webhooks", json={"url": PUBLIC_URL, "events": []})
        assert empty.status_code == 400
        assert "at least one event type" in empty.json()["error"]
        missing = await http.post("/api/webhooks", json={"events": ["case.created"]})
        assert missing.status_code == 400
        assert missing.json()["code"] == "validation_error"
        assert (await http.get("/api/webhooks")).json()["webhooks"] == []
        webhook = (await http.post("/api/webhooks", json={"url": PUBLIC_URL})).json()["webhook"][
            "id"
        ]
        for query in ("", "?fromSeq=0", "?fromSeq=x"):
            bad = await http.post(f"/api/webhooks/{webhook}/replay{query}")
            assert bad.status_code == 400, (query, bad.text)
        past = await http.post(f"/api/webhooks/{webhook}/replay?fromSeq=5")
        assert past.status_code == 400
        assert "past the clinic's last event (0)" in past.json()["error"]


async def test_the_permission_is_needed(strict: Services) -> None:
    clinic = await strict.clinics.add(name="Happy Paws")
    async with await keyed(
        strict, clinic, ["sync:inbound", "sync:cases", "sync:reconcile"]
    ) as http:
        for method, path in (
            ("POST", "/api/webhooks"),
            ("GET", "/api/webhooks"),
            ("DELETE", f"/api/webhooks/{uuid.uuid4()}"),
            ("GET", f"/api/webhooks/{uuid.uuid4()}/deliveries"),
            ("POST", f"/api/webhooks/{uuid.uuid4()}/replay?fromSeq=1"),
        ):
            answer = await http.request(method, path, json={"url": PUBLIC_URL})
            assert answer.status_code == 403, (method, path)
            assert answer.json()["error"] == "Permission denied: webhooks:manage"
    async with await keyed(strict, clinic, None) as http:  # a full-access key may
        assert (await http.get("/api/webhooks")).status_code == 200


async def test_a_clinic_never_sees_or_touches_another_clinics_webhooks(strict: Services) -> None:
    mine = await strict.clinics.add(name="Happy Paws")
    theirs = await strict.clinics.add(name="Other Paws")
    async with await keyed(strict, theirs, ["webhooks:manage"]) as other:
        webhook = (await other.post("/api/webhooks", json={"url": PUBLIC_URL})).json()["webhook"][
            "id"
        ]
    async with await keyed(strict, mine, ["webhooks:manage"]) as http:
        assert (await http.get("/api/webhooks")).json()["webhooks"] == []
        for method, path in (
            ("GET", f"/api/webhooks/{webhook}"),
            ("DELETE", f"/api/webhooks/{webhook}"),
            ("GET", f"/api/webhooks/{webhook}/deliveries"),
            ("POST", f"/api/webhooks/{webhook}/replay?fromSeq=1"),
        ):
            answer = await http.request(method, path)
            assert answer.status_code == 404, (method, path)
            assert answer.json()["code"] == "webhook_not_found"
        named = await http.get("/api/webhooks", params={"clinicId": str(theirs.id)})
        assert named.status_code == 403
    assert await strict.webhooks.get(uuid.UUID(webhook)) is not None
