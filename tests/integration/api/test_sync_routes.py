"""The sync routes over HTTP (docs/api.md), on a real database with the in-memory PIMS.

The pipeline itself is tested elsewhere; here: validation, permissions, clinic scope,
aliases, status codes (200/202/207/400/403/404/409/502/504), run/history/SSE shapes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from pims_sync.adapters.memory.provider import FakeProvider, FakeSession
from pims_sync.bootstrap import Services
from pims_sync.domain.appointments import Appointment, Client, Patient
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.run_options import MAX_WINDOW_DAYS
from pims_sync.domain.runs import RunStatus, SyncType, Trigger
from pims_sync.errors import PimsRequestRejectedError
from pims_sync.ports.provider import ClinicLogin
from pims_sync.sync.service import SyncService
from tests.integration.api.conftest import insert_key

PASSWORD = "right-password"
ALL = {"sync:inbound", "sync:cases", "sync:reconcile"}


def appointments(zone: str, count: int = 6) -> list[Appointment]:
    """Appointments tomorrow and the day after, clinic time."""
    tomorrow = datetime.now(ZoneInfo(zone)).replace(hour=9, minute=0, second=0, microsecond=0)
    tomorrow += timedelta(days=1)
    return [
        Appointment(
            appointment_id=str(500000 + n),
            start=tomorrow + timedelta(days=n % 2, minutes=30 * n),
            end=tomorrow + timedelta(days=n % 2, minutes=30 * n + 20),
            status="Scheduled",
            patient=Patient(id=str(n), name=f"PET {n}", species="Canine"),
            client=Client(id=str(n), first_name="ANA", last_name=f"OWNER{n}"),
            type_description="Exam",
        )
        for n in range(count)
    ]


@pytest.fixture
def provider(clinic: Clinic) -> FakeProvider:
    return FakeProvider(appointments=appointments(clinic.timezone), password=PASSWORD)


@pytest.fixture
async def wired(services: Services, clinic: Clinic, provider: FakeProvider) -> Services:
    """The services with the fake PIMS and the clinic's credentials stored."""
    services.pims_provider = provider
    await services.vault.save(clinic.id, PimsCredentials("vet@example.com", PASSWORD, "1001"))
    return services


@pytest.fixture
async def key(wired: Services, clinic: Clinic) -> dict[str, str]:
    _, value = await insert_key(wired, clinic_id=clinic.id)
    return {"X-API-Key": value}


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["code"] == code
    return body


async def finished(services: Services, clinic: Clinic, run_id: str) -> None:
    """Wait until the run's audit row is closed."""
    for _ in range(200):
        record = await services.runs.get(clinic_id=clinic.id, run_id=uuid.UUID(run_id))
        if record is not None and record.finished:
            return
        await asyncio.sleep(0.05)
    pytest.fail(f"run {run_id} did not finish")


BAD_BODIES: list[tuple[str, object, str]] = [
    ("/api/sync/inbound", {"daysAhead": -1}, "body.daysAhead"),
    ("/api/sync/inbound", {"daysAhead": 91}, "body.daysAhead"),
    ("/api/sync/inbound", {"daysAhead": "many"}, "body.daysAhead"),
    ("/api/sync/inbound", {"startDate": "2026-02-30"}, "body.startDate"),
    ("/api/sync/inbound", {"startDate": "17/01/2026"}, "body.startDate"),
    ("/api/sync/inbound", {"startDate": 1768608000}, "body.startDate"),
    ("/api/sync/inbound", {"startDate": "2026-01-20", "endDate": "2026-01-10"}, "body.endDate"),
    ("/api/sync/inbound", {"startDate": "2026-01-01", "endDate": "2027-01-02"}, "body.endDate"),
    ("/api/sync/inbound", {"dateRange": {"start": "soon"}}, "body.dateRange.start"),
    ("/api/sync/inbound", {"clinicId": "clinic-1"}, "body.clinicId"),
    ("/api/sync/cases", {"parallelBatchSize": 51}, "body.parallelBatchSize"),
    ("/api/sync/cases", {"endDate": "2026-13-01"}, "body.endDate"),
    ("/api/sync/reconcile", {"lookbackDays": 91}, "body.lookbackDays"),
    ("/api/sync/reconcile", {"dryRun": "perhaps"}, "body.dryRun"),
    ("/api/sync/full", {"forwardDays": 5, "daysAhead": 6}, "body.forwardDays"),
    ("/api/sync/full", {"backwardDays": 91}, "body.backwardDays"),
    ("/api/sync/full", {"async": "later"}, "body.async"),
    ("/api/sync/full", [1, 2], "body"),
]


async def test_each_bad_field_is_a_400_naming_it(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    for path, body, field in BAD_BODIES:
        response = await client.post(path, json=body, headers=key)
        problem = refused(response, 400, "validation_error")
        fields = [item["field"] for item in problem["validationErrors"]]
        assert fields == [field], (path, body, problem)
        assert problem["error"] == "Validation failed"
        assert all(item["message"] for item in problem["validationErrors"])
    window = await client.post(
        "/api/sync/inbound",
        json={"startDate": "2026-01-01", "endDate": "2027-01-02"},
        headers=key,
    )
    message = window.json()["validationErrors"][0]["message"]
    assert message == f"the window may cover at most {MAX_WINDOW_DAYS} days"
    malformed = await client.post(
        "/api/sync/full", content=b"{nope", headers={**key, "Content-Type": "application/json"}
    )
    refused(malformed, 400, "invalid_json")


async def test_empty_body_runs_inbound_and_answers_the_result(
    client: httpx.AsyncClient, key: dict[str, str], provider: FakeProvider
) -> None:
    for body in (None, {}):
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        response = await client.post("/api/sync/inbound", headers=key, **kwargs)
        assert response.status_code == 200, response.text
        result = response.json()
        assert result["success"] is True
        assert uuid.UUID(result["syncId"])
        assert set(result["stats"]) >= {"appointmentsFound", "casesCreated", "casesUpdated"}
        assert result["stats"]["appointmentsFound"] == 6
        assert isinstance(result["durationMs"], int)
        assert datetime.fromisoformat(result["timestamp"])
    assert provider.logins == 2


async def test_permissions_per_route(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic
) -> None:
    _, inbound_only = await insert_key(wired, clinic_id=clinic.id, permissions=["sync:inbound"])
    headers = {"X-API-Key": inbound_only}
    expected = {
        "/api/sync/cases": "sync:cases",
        "/api/sync/outbound/enrich": "sync:cases",
        "/api/sync/reconcile": "sync:reconcile",
        "/api/sync/full": "sync:cases",
        "/api/sync/outbound/full": "sync:cases",
    }
    for path, permission in expected.items():
        body = refused(await client.post(path, json={}, headers=headers), 403, "permission_denied")
        assert body["error"] == f"Permission denied: {permission}"
    # The check comes before the body: a bad body without the permission is still 403.
    bad = await client.post("/api/sync/cases", json={"parallelBatchSize": 0}, headers=headers)
    refused(bad, 403, "permission_denied")
    _, reconcile = await insert_key(
        wired, clinic_id=clinic.id, permissions=["sync:reconciliation", "sync:inbound"]
    )
    body = refused(
        await client.post("/api/sync/full", json={}, headers={"X-API-Key": reconcile}),
        403,
        "permission_denied",
    )
    assert body["error"] == "Permission denied: sync:cases"
    refused(await client.post("/api/sync/inbound", json={}), 401, "missing_api_key")


async def test_original_aliases_and_body_fields(
    client: httpx.AsyncClient, key: dict[str, str]
) -> None:
    inbound = await client.post("/api/sync/outbound/cases", json={}, headers=key)
    assert inbound.status_code == 200, inbound.text
    assert inbound.json()["stats"]["appointmentsFound"] == 6
    enrich = await client.post("/api/sync/outbound/enrich", json={}, headers=key)
    assert enrich.status_code == 200, enrich.text
    assert "casesFound" in enrich.json()["stats"]
    legacy = {"bidirectional": True, "backwardDays": 3, "forwardDays": 2, "unknownField": 1}
    full = await client.post("/api/sync/outbound/full", json=legacy, headers=key)
    assert full.status_code == 200, full.text
    result = full.json()
    assert set(result) >= {"inboundResult", "casesResult", "reconciliationResult", "syncId"}
    assert result["success"] is True
    reversed_range = {"dateRange": {"start": "2026-01-10", "end": "2026-01-09"}}
    ranged = await client.post("/api/sync/inbound", json=reversed_range, headers=key)
    problem = refused(ranged, 400, "validation_error")["validationErrors"]
    assert problem == [{"field": "body.dateRange.end", "message": "must not be before start"}]
    # Flat fields win over dateRange field by field; the combined window is checked too.
    mixed = {"startDate": "2026-01-10", "dateRange": {"end": "2026-01-09"}}
    refused(await client.post("/api/sync/inbound", json=mixed, headers=key), 400, "invalid_input")


async def test_clinic_scope_of_keys(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    other = await wired.clinics.add(name="Other clinic")
    _, other_key = await insert_key(wired, clinic_id=other.id)
    ran = await client.post("/api/sync/inbound", json={}, headers=key)
    sync_id = ran.json()["syncId"]
    for path in (f"/api/sync/{sync_id}", f"/api/sync/{sync_id}/events"):
        hidden = await client.get(path, headers={"X-API-Key": other_key})
        assert refused(hidden, 404, "sync_not_found")["error"] == f"Sync run not found: {sync_id}"
    foreign = await client.post("/api/sync/inbound", json={"clinicId": str(other.id)}, headers=key)
    body = refused(foreign, 403, "clinic_forbidden")
    assert body["error"] == f"API key does not belong to clinic {other.id}"
    listed = await client.get("/api/sync/history", headers={"X-API-Key": other_key})
    assert listed.json()["runs"] == []

    _, service_key = await insert_key(wired, clinic_id=None)
    service = {"X-API-Key": service_key}
    refused(
        await client.post("/api/sync/inbound", json={}, headers=service), 400, "clinic_id_required"
    )
    named = await client.post(
        "/api/sync/inbound", json={"clinicId": str(clinic.id), "async": True}, headers=service
    )
    assert named.status_code == 202, named.text
    assert named.json()["statusUrl"].endswith(f"?clinicId={clinic.id}")
    await finished(wired, clinic, named.json()["syncId"])
    status = await client.get(named.json()["statusUrl"], headers=service)
    assert status.json()["status"] == "completed"
    refused(await client.get(f"/api/sync/{sync_id}", headers=service), 400, "clinic_id_required")


async def test_a_busy_clinic_answers_409_with_the_running_sync(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    running = await wired.runs.start(
        clinic_id=clinic.id,
        sync_type=SyncType.FULL,
        triggered_by=Trigger.SCHEDULER,
        at=datetime.now(UTC),
    )
    for path in ("/api/sync/inbound", "/api/sync/full", "/api/sync/outbound/enrich"):
        body = refused(await client.post(path, json={}, headers=key), 409, "sync_in_progress")
        assert body["syncId"] == str(running.id)
    live = await client.get(f"/api/sync/{running.id}", headers=key)
    assert live.json()["status"] == "in_progress"
    assert live.json()["result"] is None


async def test_run_detail_and_history_shapes(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    full = await client.post("/api/sync/full", json={"lookbackDays": 2}, headers=key)
    sync_id = full.json()["syncId"]
    detail = (await client.get(f"/api/sync/{sync_id}", headers=key)).json()
    assert detail["success"] is True
    assert detail["syncId"] == sync_id
    assert (detail["type"], detail["status"], detail["triggeredBy"]) == ("full", "completed", "api")
    assert detail["startedAt"].endswith("Z")
    assert detail["completedAt"].endswith("Z")
    assert detail["progress"]["percentage"] == 100
    assert set(detail["progress"]) == {"percentage", "processed", "total", "lastUpdate"}
    assert [p["type"] for p in detail["phases"]] == ["inbound", "cases", "reconciliation"]
    assert all(p["parentId"] == sync_id for p in detail["phases"])
    assert detail["result"] == full.json()
    assert detail["error"] is None

    # A malformed id is an unknown run (and `/api/sync/<word>` an unknown path).
    bad = refused(await client.get("/api/sync/not-a-uuid", headers=key), 404, "not_found")
    assert bad["error"] == "Not found: GET /api/sync/not-a-uuid"
    refused(await client.post("/api/sync/not-a-uuid", headers=key), 404, "not_found")
    refused(await client.get("/api/sync/inbound", headers=key), 405, "method_not_allowed")
    unknown = await client.get(f"/api/sync/{uuid.uuid4()}", headers=key)
    refused(unknown, 404, "sync_not_found")

    wired.pims_provider.password = "rotated"  # type: ignore[union-attr]
    failed = await client.post("/api/sync/inbound", json={}, headers=key)
    refused(failed, 502, "pims_auth_failed")
    history = (await client.get("/api/sync/history", headers=key)).json()
    assert history["total"] == 2
    assert history["successRate"] == 50.0
    newest, oldest = history["runs"]
    assert (newest["type"], newest["status"], oldest["syncId"]) == ("inbound", "failed", sync_id)
    assert "PIMS login failed" in newest["error"]
    assert set(oldest["stats"]) >= {"appointmentsFound", "casesCreated", "casesEnriched"}
    only_full = (await client.get("/api/sync/history?type=full", headers=key)).json()
    assert [run["syncId"] for run in only_full["runs"]] == [sync_id]
    only_failed = (await client.get("/api/sync/history?status=failed&limit=5", headers=key)).json()
    assert [run["status"] for run in only_failed["runs"]] == ["failed"]
    wrong = await client.get("/api/sync/history?type=weekly&limit=0", headers=key)
    fields = {e["field"] for e in refused(wrong, 400, "validation_error")["validationErrors"]}
    assert fields == {"query.type", "query.limit"}


def events_of(text: str) -> list[tuple[str, dict[str, Any]]]:
    """Parse SSE text into (event, data) pairs."""
    parsed = []
    for block in text.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if not line.startswith(":"))
        parsed.append((lines["event"], json.loads(lines["data"])))
    return parsed


async def test_events_of_finished_runs_and_async_mode(
    client: httpx.AsyncClient, wired: Services, clinic: Clinic, key: dict[str, str]
) -> None:
    started = await client.post("/api/sync/full", json={"async": True}, headers=key)
    assert started.status_code == 202, started.text
    queued = started.json()
    sync_id = queued["syncId"]
    assert queued == {
        "success": True,
        "syncId": sync_id,
        "status": "queued",
        "statusUrl": f"/api/sync/{sync_id}",
        "eventsUrl": f"/api/sync/{sync_id}/events",
    }
    await finished(wired, clinic, sync_id)
    # The run is over: its events answer the final one at once, from the audit row.
    stream = await client.get(queued["eventsUrl"], headers=key)
    assert stream.status_code == 200
    assert stream.headers["content-type"].startswith("text/event-stream")
    [(kind, data)] = events_of(stream.text)
    assert kind == "completed"
    assert data["result"]["syncId"] == sync_id
    assert data["result"]["success"] is True

    wired.pims_provider.password = "rotated"  # type: ignore[union-attr]
    failed = await client.post("/api/sync/inbound", json={"async": True}, headers=key)
    await finished(wired, clinic, failed.json()["syncId"])
    [(kind, data)] = events_of((await client.get(failed.json()["eventsUrl"], headers=key)).text)
    assert kind == "failed"
    assert "PIMS login failed" in data["error"]
    assert data["code"] == "pims_auth_failed"


async def test_live_events_come_from_the_bus(wired: Services, clinic: Clinic) -> None:
    from pims_sync.api.run_events import event_stream
    from pims_sync.sync.request import SyncRequest

    handle = await wired.sync.start(SyncRequest(clinic_id=clinic.id, sync_type=SyncType.FULL))
    chunks = [chunk async for chunk in event_stream(wired, clinic.id, handle.run_id)]
    await handle.task
    kinds = [kind for kind, _ in events_of(b"".join(chunks).decode())]
    assert kinds[-1] == "completed"
    assert {"phase", "progress"} <= set(kinds)


async def test_polling_follows_a_run_of_another_process(
    wired: Services, clinic: Clinic, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pims_sync.api import run_events
    from pims_sync.domain.runs import RunCounters

    monkeypatch.setattr(run_events, "POLL_SECONDS", 0.01)
    record = await wired.runs.start(
        clinic_id=clinic.id,
        sync_type=SyncType.INBOUND,
        triggered_by=Trigger.CLI,
        at=datetime.now(UTC),
    )
    chunks: list[bytes] = []

    async def follow() -> None:
        async for chunk in run_events.event_stream(wired, clinic.id, record.id):
            chunks.append(chunk)

    following = asyncio.create_task(follow())
    await asyncio.sleep(0.05)
    now = datetime.now(UTC)
    await wired.runs.progress(
        run_id=record.id, total_items=4, processed_items=2, percentage=50, at=now
    )
    await asyncio.sleep(0.05)
    await wired.runs.finish(
        run_id=record.id,
        status=RunStatus.COMPLETED,
        counters=RunCounters(appointments_found=4),
        error_message=None,
        result={"success": True, "syncId": str(record.id)},
        at=datetime.now(UTC),
    )
    await asyncio.wait_for(following, 5)
    events = events_of(b"".join(chunks).decode())
    assert (
        "progress",
        {"phase": "inbound", "percentage": 50, "processed": 2, "total": 4},
    ) in events
    assert events[-1] == ("completed", {"result": {"success": True, "syncId": str(record.id)}})


async def test_pims_failures_timeouts_and_guard(
    client: httpx.AsyncClient,
    wired: Services,
    clinic: Clinic,
    key: dict[str, str],
    provider: FakeProvider,
) -> None:
    provider.fail_next("calendar", PimsRequestRejectedError("calendar refused"))
    partial = await client.post("/api/sync/full", json={}, headers=key)
    assert partial.status_code == 207, partial.text
    assert partial.json()["success"] is False
    assert partial.json()["inboundResult"]["success"] is False

    # Cases of the last days exist; a PIMS that suddenly lists nothing is not believed.
    past = [
        replace(a, start=a.start - timedelta(days=3), end=a.end - timedelta(days=3))
        for a in appointments(clinic.timezone)
    ]
    provider.appointments = {a.appointment_id: a for a in past}
    synced = await client.post(
        "/api/sync/inbound",
        json={"startDate": str(past[0].start.date() - timedelta(days=1))},
        headers=key,
    )
    assert synced.json()["stats"]["casesCreated"] == 6, (synced.text, partial.text)
    provider.appointments.clear()
    guarded = await client.post("/api/sync/reconcile", json={"lookbackDays": 7}, headers=key)
    assert refused(guarded, 409, "reconciliation_guard")["syncId"]
    forced = await client.post(
        "/api/sync/reconcile", json={"force": True, "dryRun": True}, headers=key
    )
    assert forced.status_code == 200, forced.text
    assert len(forced.json()["wouldDelete"]) == 6, forced.text

    wired.sync_service = SyncService(
        clinics=wired.clinics,
        credentials=wired.vault,
        provider=SlowProvider(password=PASSWORD),
        cases=wired.cases,
        runs=wired.runs,
        timeout_seconds=0.2,
    )
    late = await client.post("/api/sync/inbound", json={}, headers=key)
    body = refused(late, 504, "sync_timeout")
    record = await wired.runs.get(clinic_id=clinic.id, run_id=uuid.UUID(body["syncId"]))
    assert record is not None
    assert record.status is RunStatus.FAILED
    assert "timed out" in (record.error_message or "")


class SlowProvider(FakeProvider):
    """A PIMS whose login takes a second."""

    @asynccontextmanager
    async def session(self, login: ClinicLogin) -> AsyncIterator[FakeSession]:
        await asyncio.sleep(1)
        async with super().session(login) as session:
            yield session


def test_status_codes_of_run_errors() -> None:
    from pims_sync import errors
    from pims_sync.api.errors import run_concerned, status_for
    from pims_sync.errors import ServiceStoppingError

    busy = errors.RunInProgressError(run_id=uuid.UUID(int=1))
    assert (status_for(busy), run_concerned(busy)) == (409, str(uuid.UUID(int=1)))
    assert status_for(errors.ReconciliationGuardError()) == 409
    assert status_for(errors.SyncTimeoutError(sync_id="s")) == 504
    assert status_for(errors.PimsAuthError("no")) == 502
    assert status_for(errors.PimsRetriesExhaustedError()) == 502
    assert status_for(ServiceStoppingError()) == 503
    assert run_concerned(errors.PimsUnavailableError(sync_id="s-2")) == "s-2"
    assert run_concerned(errors.InvalidInputError("bad")) is None
