"""Every answer shape of the HTTP API, held to golden files (tests/golden/*.json).

The sync replies of each phase and of full runs (200, 207, 202), the run views, history,
the events of a run, the scheduler, the clinic and its freshness, the service routes and
every kind of error envelope, on SQLite and Postgres alike (the same files). Ids, instants, days and
measured values are normalised (tests/integration/api/golden.py); everything else, key
order included, must stay as it is. Regenerate with `UPDATE_SNAPSHOTS=1` only for a
change of the wire format that is meant.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import update

from pims_sync.adapters.memory.provider import FakeProvider, FakeSession
from pims_sync.adapters.sql.tables import clinics
from pims_sync.api.app import create_app
from pims_sync.api.streams import StreamSlots
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.appointments import Appointment, Client, Patient, RejectedEvent
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.mirror import EntryKind, MirrorEntry, MirrorListing
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import PimsRequestRejectedError, PimsUnavailableError
from pims_sync.ports.schedules import FireStatus
from pims_sync.sync.service import SyncService
from tests.integration.api.conftest import api_settings, client_for, insert_key
from tests.integration.api.golden import golden, record
from tests.integration.api.test_sync_routes import SlowProvider, events_of

PASSWORD = "right-password"
ZONE = "America/Chicago"
REFUSED_CONSULTATION = "C3"


def _appointment(number: int, day: date, consultation: str | None = None) -> Appointment:
    start = datetime(day.year, day.month, day.day, 9, tzinfo=ZoneInfo(ZONE))
    start += timedelta(minutes=30 * number)
    return Appointment(
        appointment_id=str(700000 + number),
        start=start,
        end=start + timedelta(minutes=20),
        consultation_id=consultation,
        status="Scheduled",
        patient=Patient(id=str(number), name=f"PET {number}", species="Canine"),
        client=Client(id=str(number), first_name="ANA", last_name=f"OWNER{number}"),
        type_description="Exam",
    )


def today() -> date:
    """The clinic's day."""
    return datetime.now(ZoneInfo(ZONE)).date()


def seeded_provider() -> FakeProvider:
    """Five past appointments (three with consultations), three ahead, one unreadable event."""
    past, ahead = today() - timedelta(days=3), today() + timedelta(days=1)
    consultations = {1: "C1", 2: "C2", 3: REFUSED_CONSULTATION}
    booked = [_appointment(n, past, consultations.get(n)) for n in range(1, 6)]
    booked += [_appointment(n, ahead) for n in range(6, 9)]
    provider = FakeProvider(
        appointments=booked,
        consultations=[Consultation(id="C1", status="Finalised", notes="<p>ok</p>")],
        password=PASSWORD,
        outside_per_fetch=2,
        coerced_per_fetch=1,
    )
    start = booked[0].start + timedelta(hours=3)
    provider.rejected = [
        RejectedEvent(7, "700099", "start is not a date", start, start + timedelta(minutes=20))
    ]
    return provider


@dataclass
class World:
    """The app on real services, with the fake PIMS and three keys."""

    services: Services
    http: httpx.AsyncClient
    clinic: Clinic
    provider: FakeProvider
    key: dict[str, str]
    service_key: dict[str, str]
    inbound_only: dict[str, str]


@pytest.fixture
async def world(services: Services, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[World]:
    clinic = await services.clinics.add(name="Golden Vet", timezone=ZONE)
    provider = seeded_provider()
    services.pims_provider = provider
    await services.vault.save(clinic.id, PimsCredentials("vet@example.com", PASSWORD, "1001"))
    fetch = FakeSession.fetch_consultation

    async def refusing(session: FakeSession, consultation_id: str) -> Consultation:
        if consultation_id == REFUSED_CONSULTATION:
            raise PimsRequestRejectedError("consultation refused (HTTP 403)")
        return await fetch(session, consultation_id)

    monkeypatch.setattr(FakeSession, "fetch_consultation", refusing)
    keys = [
        await insert_key(services, clinic_id=clinic.id),
        await insert_key(services, clinic_id=None),
        await insert_key(services, clinic_id=clinic.id, permissions=["sync:inbound"]),
    ]
    headers = [{"X-API-Key": value} for _, value in keys]
    async with client_for(create_app(services.settings, services)) as http:
        yield World(services, http, clinic, provider, *headers)


async def post(world: World, path: str, body: object = None, **headers: str) -> httpx.Response:
    return await world.http.post(path, json=body or {}, headers=headers or world.key)


async def get(world: World, path: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return await world.http.get(path, headers=world.key if headers is None else headers)


async def finished(world: World, run_id: str) -> None:
    """Wait until the run's audit row is closed."""
    for _ in range(400):
        found = await world.services.runs.get(clinic_id=world.clinic.id, run_id=uuid.UUID(run_id))
        if found is not None and found.finished:
            return
        await asyncio.sleep(0.025)
    pytest.fail(f"run {run_id} did not finish")


def live_events(response: httpx.Response) -> dict[str, Any]:
    """A live stream's events; consecutive progress events (their number varies) as one."""
    shown: list[dict[str, Any]] = []
    for kind, data in events_of(response.text):
        if kind == "progress":
            data = {k: f"<{type(v).__name__}>" if k != "phase" else v for k, v in data.items()}
        event = {"event": kind, "data": data}
        if not shown or shown[-1] != event or kind != "progress":
            shown.append(event)
    return record(response, shown)


def stream(response: httpx.Response) -> dict[str, Any]:
    """A finished run's stream: its one final event."""
    return record(response, [{"event": k, "data": d} for k, d in events_of(response.text)])


async def test_sync_replies_run_views_history_and_events(world: World) -> None:
    first = (today() - timedelta(days=4)).isoformat()
    inbound = await post(world, "/api/sync/inbound", {"startDate": first})
    golden("sync-inbound", inbound)
    cases = await post(world, "/api/sync/cases")
    golden("sync-cases", cases)

    world.provider.appointments.pop("700004")
    world.provider.move("700003", status="Cancelled")
    golden("sync-reconcile", await post(world, "/api/sync/reconcile"))
    world.provider.appointments["700004"] = _appointment(4, today() - timedelta(days=3))
    golden("sync-reconcile-restored", await post(world, "/api/sync/reconcile"))
    held = replace(world.provider.rejected[0], index=9, appointment_id=None)
    world.provider.rejected.append(held)
    world.provider.appointments.pop("700005")
    golden("sync-reconcile-held", await post(world, "/api/sync/reconcile"))
    world.provider.rejected.pop()
    dry = {"dryRun": True, "lookbackDays": 5}
    golden("sync-reconcile-dry-run", await post(world, "/api/sync/reconcile", dry))
    saved = dict(world.provider.appointments), list(world.provider.rejected)
    world.provider.appointments.clear()
    world.provider.rejected.clear()
    golden("sync-reconcile-dry-run-guarded", await post(world, "/api/sync/reconcile", dry))
    world.provider.appointments, world.provider.rejected = saved

    full = await post(world, "/api/sync/full")
    golden("sync-full", full)
    golden("sync-full-original-path", await post(world, "/api/sync/outbound/full"))
    world.provider.fail_next("calendar", PimsRequestRejectedError("calendar refused"))
    partial = await post(world, "/api/sync/full", {"lookbackDays": 3})
    golden("sync-full-partial", partial)

    queued = await post(world, "/api/sync/full", {"async": True})
    golden("sync-async", queued)
    golden("events-live-full", live_events(await get(world, queued.json()["eventsUrl"])))
    await finished(world, queued.json()["syncId"])
    named = {"clinicId": str(world.clinic.id), "async": True}
    by_service = await post(world, "/api/sync/inbound", named, **world.service_key)
    golden("sync-async-service-key", by_service)
    await finished(world, by_service.json()["syncId"])

    golden("run-inbound", await get(world, f"/api/sync/{inbound.json()['syncId']}"))
    golden("run-cases", await get(world, f"/api/sync/{cases.json()['syncId']}"))
    golden("run-full", await get(world, f"/api/sync/{full.json()['syncId']}"))
    golden("run-full-partial", await get(world, f"/api/sync/{partial.json()['syncId']}"))
    golden(
        "events-completed", stream(await get(world, f"/api/sync/{full.json()['syncId']}/events"))
    )

    world.provider.password = "rotated"
    refused = await post(world, "/api/sync/inbound")
    golden("error-502-pims-auth-failed", refused)
    failed_run = f"/api/sync/{refused.json()['syncId']}"
    golden("run-failed", await get(world, failed_run))
    golden("events-failed", stream(await get(world, f"{failed_run}/events")))
    # The refused password paused the clinic: runs are refused until it is resumed.
    golden("error-409-clinic-paused", await post(world, "/api/sync/inbound"))
    golden("clinic-freshness-paused", await get(world, "/api/clinic/freshness"))
    resume = {"paused": False}
    golden("clinic-resumed", await world.http.patch("/api/clinic", json=resume, headers=world.key))

    golden("history", await get(world, "/api/sync/history?limit=100"))
    golden("history-filtered", await get(world, "/api/sync/history?type=reconciliation&limit=2"))
    golden("history-empty", await get(world, "/api/sync/history?status=in_progress"))
    live = await world.services.runs.start(
        clinic_id=world.clinic.id,
        sync_type=SyncType.FULL,
        triggered_by=Trigger.SCHEDULER,
        at=datetime.now(UTC),
    )
    golden("run-in-progress", await get(world, f"/api/sync/{live.id}"))
    golden("error-409-sync-in-progress", await post(world, "/api/sync/full"))


async def test_scheduler_clinic_and_service_routes(world: World) -> None:
    services, clinic = world.services, world.clinic
    entries: list[dict[str, Any]] = [
        {"type": "inbound", "cron": "0 6 * * *", "enabled": True, "options": {"daysAhead": 14}},
        {"type": "cases", "cron": "30 7 * * 1-5", "enabled": False},
        {"type": "reconciliation", "cron": "every morning"},
    ]
    await services.schedules.put(clinic.id, entries)
    now = datetime.now(UTC).replace(microsecond=0)
    fire_at = now.replace(minute=0, second=0) - timedelta(hours=1)
    fire = await services.fires.claim(
        clinic_id=clinic.id, sync_type=SyncType.INBOUND, fire_at=fire_at, by="host:1", at=now
    )
    assert fire is not None
    run = await services.runs.start(
        clinic_id=clinic.id, sync_type=SyncType.INBOUND, triggered_by=Trigger.SCHEDULER, at=now
    )
    await services.fires.mark(fire, status=FireStatus.COMPLETED, at=now, run_id=run.id)
    golden("scheduler-status", await get(world, "/api/scheduler/status"))
    golden(
        "scheduler-status-service-key", await get(world, "/api/scheduler/status", world.service_key)
    )
    change = {"type": "cases", "enabled": True, "options": {"lookbackDays": 3}}
    patched = await world.http.patch("/api/scheduler/schedules", json=change, headers=world.key)
    golden("scheduler-patch", patched)
    bad = {"type": "full", "cron": "* * * * *"}
    refused = await world.http.patch("/api/scheduler/schedules", json=bad, headers=world.key)
    golden("error-400-invalid-schedule", refused)

    golden("clinic", await get(world, "/api/clinic"))
    golden("clinic-freshness", await get(world, "/api/clinic/freshness"))
    golden(
        "clinic-service-key",
        await get(world, f"/api/clinic?clinicId={clinic.id}", world.service_key),
    )
    golden("clinic-inbound-only-key", await get(world, "/api/clinic", world.inbound_only))
    golden("root", await world.http.get("/"))
    golden("health", await world.http.get("/health"))
    golden("ready", await world.http.get("/ready"))


ERRORS: list[tuple[str, str, str, object, str]] = [
    # (golden name, method, path, body, which key)
    (
        "error-400-validation-body",
        "POST",
        "/api/sync/inbound",
        {"daysAhead": 91, "startDate": "2026-02-30"},
        "key",
    ),
    (
        "error-400-validation-nested",
        "POST",
        "/api/sync/inbound",
        {"dateRange": {"start": "soon"}},
        "key",
    ),
    ("error-400-validation-not-an-object", "POST", "/api/sync/full", [1, 2], "key"),
    ("error-400-validation-query", "GET", "/api/sync/history?type=weekly&limit=0", None, "key"),
    (
        "error-400-invalid-input",
        "POST",
        "/api/sync/inbound",
        {"startDate": "2026-01-10", "dateRange": {"end": "2026-01-09"}},
        "key",
    ),
    ("error-400-clinic-id-required", "POST", "/api/sync/inbound", {}, "service_key"),
    ("error-401-missing-api-key", "GET", "/api/clinic", None, "none"),
    ("error-401-invalid-api-key", "GET", "/api/clinic", None, "wrong"),
    ("error-403-permission-denied", "POST", "/api/sync/full", {}, "inbound_only"),
    (
        "error-403-clinic-forbidden",
        "POST",
        "/api/sync/inbound",
        {"clinicId": "00000000-0000-4000-8000-000000000001"},
        "key",
    ),
    (
        "error-404-clinic-not-found",
        "GET",
        "/api/clinic?clinicId=00000000-0000-4000-8000-000000000001",
        None,
        "service_key",
    ),
    (
        "error-404-sync-not-found",
        "GET",
        "/api/sync/00000000-0000-4000-8000-000000000002",
        None,
        "key",
    ),
    ("error-404-not-found", "GET", "/api/sync/not-a-uuid", None, "key"),
    ("error-405-method-not-allowed", "DELETE", "/health", None, "none"),
]


async def test_error_envelopes(world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    wrong = {"X-API-Key": "ab" * 32}
    chosen = {
        "key": world.key,
        "service_key": world.service_key,
        "inbound_only": world.inbound_only,
        "none": {},
        "wrong": wrong,
    }
    for name, method, path, body, who in ERRORS:
        kwargs: dict[str, Any] = {"headers": chosen[who]}
        if body is not None:
            kwargs["json"] = body
        golden(name, await world.http.request(method, path, **kwargs))
    malformed = {**world.key, "Content-Type": "application/json"}
    golden(
        "error-400-invalid-json",
        await world.http.post("/api/sync/full", content=b"{nope", headers=malformed),
    )
    huge = b'{"data": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    golden(
        "error-413-payload-too-large",
        await world.http.post("/api/sync/full", content=huge, headers=malformed),
    )

    world.provider.appointments = {
        k: a for k, a in world.provider.appointments.items() if a.start.date() < today()
    }
    await post(world, "/api/sync/inbound", {"startDate": (today() - timedelta(days=4)).isoformat()})
    world.provider.appointments.clear()
    world.provider.rejected.clear()
    golden("error-409-reconciliation-guard", await post(world, "/api/sync/reconcile"))

    app = world.http._transport.app  # type: ignore[attr-defined]
    app.state.stream_slots = StreamSlots(0)
    run = (await world.http.get("/api/sync/history", headers=world.key)).json()["runs"][0]
    golden("error-429-too-many-streams", await get(world, f"/api/sync/{run['syncId']}/events"))

    async def broken(**_: object) -> None:
        raise RuntimeError("a bug")

    with monkeypatch.context() as patched:
        patched.setattr(world.services.runs, "history", broken)
        golden("error-500-internal-error", await get(world, "/api/sync/history"))

    world.services.sync_service = SyncService(
        clinics=world.services.clinics,
        credentials=world.services.vault,
        provider=SlowProvider(password=PASSWORD),
        cases=world.services.cases,
        runs=world.services.runs,
        timeout_seconds=0.2,
    )
    golden("error-504-sync-timeout", await post(world, "/api/sync/inbound"))
    await world.services.sync.shutdown()
    golden("error-503-shutting-down", await post(world, "/api/sync/inbound"))

    async with world.services.engine.begin() as conn:
        await conn.execute(
            update(clinics).where(clinics.c.id == world.clinic.id).values(is_active=False)
        )
    golden("error-403-clinic-inactive", await get(world, "/api/clinic"))


@pytest.fixture
async def dead_client() -> AsyncIterator[httpx.AsyncClient]:
    """The app on a database that cannot be reached (nothing listens on port 1)."""
    services = build_services(api_settings("postgresql://pims@127.0.0.1:1/pims"))
    try:
        async with client_for(create_app(services.settings, services)) as client:
            yield client
    finally:
        await services.aclose()


async def test_unhealthy_and_not_ready(dead_client: httpx.AsyncClient) -> None:
    ready = await dead_client.get("/ready")
    # The driver's own words differ between databases; the shape does not.
    golden("ready-not-ready", record(ready, {**ready.json(), "error": "<driver message>"}))
    health = await dead_client.get("/health")
    body = health.json()
    for check in body["checks"]:
        if check["name"] == "database":
            check["message"] = "Database unreachable: <driver message>"
    golden("health-unhealthy", record(health, body))


async def test_event_feed(world: World) -> None:
    """Every case event type and both run events, as the polling feed shows them."""
    first = (today() - timedelta(days=4)).isoformat()
    assert (await post(world, "/api/sync/inbound", {"startDate": first})).status_code == 200
    assert (await post(world, "/api/sync/cases")).status_code == 200
    world.provider.appointments.pop("700004")
    world.provider.move("700003", status="Cancelled")
    assert (await post(world, "/api/sync/reconcile")).status_code == 200
    world.provider.appointments["700004"] = _appointment(4, today() - timedelta(days=3))
    assert (await post(world, "/api/sync/reconcile")).status_code == 200
    world.provider.fail_next("calendar", PimsRequestRejectedError("calendar refused"))
    assert (await post(world, "/api/sync/inbound")).status_code == 502

    feed = await get(world, "/api/events")
    golden("event-feed", feed)
    golden("event-feed-page", await get(world, "/api/events?afterSeq=2&limit=2"))
    last = feed.json()["nextSeq"]
    golden("event-feed-caught-up", await get(world, f"/api/events?afterSeq={last}"))
    golden("error-400-event-feed-limit", await get(world, "/api/events?limit=0"))
    golden("error-400-event-feed-past-end", await get(world, f"/api/events?afterSeq={last + 1}"))


async def test_booking_rules_and_availability(world: World) -> None:
    golden("booking-config-default", await get(world, "/api/booking/config"))
    mornings = {day: ["08:00-12:00"] for day in ("monday", "tuesday", "wednesday", "thursday")}
    mornings |= {day: ["08:00-12:00"] for day in ("friday", "saturday", "sunday")}
    rules = {
        "openingHours": mornings,
        "exceptions": {"2026-12-25": []},
        "visitMinutes": {"Exam": 30},
        "bookableResourceIds": ["7", "8"],
        "bufferAfterMinutes": 5,
    }
    put = await world.http.put("/api/booking/config", json=rules, headers=world.key)
    golden("booking-config", put)
    day = today() + timedelta(days=1)
    zone = ZoneInfo(ZONE)

    def at(hour: int, minute: int = 0) -> datetime:
        return datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone).astimezone(UTC)

    visit = MirrorEntry("800001", EntryKind.APPOINTMENT, at(9), at(9, 30), "7", status="Scheduled")
    block = MirrorEntry("800002", EntryKind.BLOCK, at(10), at(11), "8")
    listing = MirrorListing(at(0), at(0) + timedelta(days=1), {e.key: e for e in (visit, block)})
    await world.services.mirror.record(
        clinic_id=world.clinic.id, listing=listing, days=[day], now=datetime.now(UTC)
    )
    asked = f"/api/availability?date={day}&appointmentType=Exam"
    golden("availability", await get(world, asked))
    after = at(9).isoformat().replace("+00:00", "Z")
    golden("availability-next", await get(world, f"/api/availability/next?after={after}&count=3"))
    later = day + timedelta(days=14)  # never read, and the PIMS fails when asked for it
    world.provider.fail_next("calendar", PimsUnavailableError(status=503), times=3)
    stale = f"/api/availability?date={later}&days=2&duration=60&resourceId=8"
    golden("availability-stale", await get(world, stale))
    ten = datetime(day.year, day.month, day.day, 10, tzinfo=zone).isoformat()
    hold = {"start": ten, "duration": 30, "resourceId": "7", "reference": "call-0042"}
    placed = await world.http.post("/api/availability/holds", json=hold, headers=world.key)
    golden("hold-created", placed)
    taken = await world.http.post("/api/availability/holds", json=hold, headers=world.key)
    golden("error-409-slot-unavailable", taken)
    hold_id = placed.json()["holdId"]
    released = await world.http.delete(f"/api/availability/holds/{hold_id}", headers=world.key)
    golden("hold-released", released)
    unknown = f"/api/availability/holds/{uuid.uuid4()}"
    golden("error-404-hold-not-found", await world.http.delete(unknown, headers=world.key))


def weekday_after(day: date) -> date:
    """The first Monday-to-Friday day after `day` (open 08:00-18:00 by the default rules)."""
    day += timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


async def test_booking_write_back(world: World) -> None:
    search = {"query": "PET 6", "limit": 5}
    golden(
        "appointments-search-patient", await post(world, "/api/appointments/search-patient", search)
    )
    day = weekday_after(today())
    body = {
        "patientId": "6",
        "date": str(day),
        "startTime": "15:00",
        "endTime": "15:30",
        "reason": "Exam",
        "roomId": "8",
        "appointmentTypeId": "1001",
    }
    create = "/api/appointments/create"
    golden("error-400-idempotency-key-required", await post(world, create, body))
    keyed = {**world.key, "Idempotency-Key": "golden-create-1"}
    made = await world.http.post(create, json=body, headers=keyed)
    golden("appointments-created", made)
    golden("appointments-created-replayed", await world.http.post(create, json=body, headers=keyed))
    other = {**body, "startTime": "16:00", "endTime": "16:30"}
    golden(
        "error-422-idempotency-key-reused", await world.http.post(create, json=other, headers=keyed)
    )
    moved = {**other, "cancelAppointmentId": made.json()["appointment"]["id"]}
    world.provider.fail_next("cancel", PimsUnavailableError("cancel refused", status=503))
    move = {**world.key, "Idempotency-Key": "golden-move-1"}
    golden(
        "appointments-rescheduled-partial",
        await world.http.post("/api/appointments/reschedule", json=moved, headers=move),
    )
    golden(
        "appointments-rescheduled",
        await world.http.post("/api/appointments/reschedule", json=moved, headers=move),
    )
    cancel = {"appointmentId": world.provider.created[-1], "reason": "Owner called"}
    golden("appointments-cancelled", await post(world, "/api/appointments/cancel", cancel))
    unknown = {"appointmentId": "4242"}
    golden(
        "error-404-appointment-not-found", await post(world, "/api/appointments/cancel", unknown)
    )
