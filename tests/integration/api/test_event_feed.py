"""`GET /api/events`: the key's clinic's events, paged by seq; permission and validation."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.outbox import EventType, NewEvent
from tests.integration.api.conftest import insert_key

AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


async def _append(services: Services, clinic: Clinic, count: int, label: str = "c") -> None:
    events = [
        NewEvent(EventType.CASE_CREATED, f"{label}{n}", {"caseId": f"{label}{n}"})
        for n in range(count)
    ]
    await services.events.append(clinic_id=clinic.id, events=events, at=AT)


async def _key(services: Services, clinic: Clinic, *permissions: str) -> dict[str, str]:
    _, key = await insert_key(
        services, clinic_id=clinic.id, permissions=list(permissions) if permissions else None
    )
    return {"X-API-Key": key}


async def test_pages_follow_next_seq_to_the_end(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    await _append(services, clinic, 7)
    headers = await _key(services, clinic, "events:read")
    seen: list[int] = []
    after, pages = 0, 0
    while True:
        body = (await client.get(f"/api/events?afterSeq={after}&limit=3", headers=headers)).json()
        pages += 1
        seen += [event["seq"] for event in body["events"]]
        assert body["clinicId"] == str(clinic.id)
        after = body["nextSeq"]
        if not body["hasMore"]:
            break
    assert (seen, after, pages) == (list(range(1, 8)), 7, 3)
    # Caught up: no events, the cursor stays where it is.
    body = (await client.get("/api/events?afterSeq=7", headers=headers)).json()
    assert (body["events"], body["nextSeq"], body["hasMore"]) == ([], 7, False)
    first = (await client.get("/api/events?limit=1", headers=headers)).json()["events"][0]
    assert first == {
        "id": first["id"],
        "seq": 1,
        "type": "case.created",
        "subjectId": "c0",
        "payload": {"caseId": "c0"},
        "createdAt": "2026-11-20T09:00:00.000Z",
    }


async def test_a_clinic_reads_only_its_own_events(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    other = await services.clinics.add(name="Other Vet", timezone="America/Chicago")
    await _append(services, clinic, 2, "mine")
    await _append(services, other, 3, "theirs")

    body = (await client.get("/api/events", headers=await _key(services, clinic))).json()
    assert [e["subjectId"] for e in body["events"]] == ["mine0", "mine1"]
    theirs = await client.get(
        f"/api/events?clinicId={other.id}", headers=await _key(services, clinic)
    )
    assert (theirs.status_code, theirs.json()["code"]) == (403, "clinic_forbidden")
    _, service_key = await insert_key(services, clinic_id=None)
    named = await client.get(f"/api/events?clinicId={other.id}", headers={"X-API-Key": service_key})
    assert [e["subjectId"] for e in named.json()["events"]] == ["theirs0", "theirs1", "theirs2"]
    unnamed = await client.get("/api/events", headers={"X-API-Key": service_key})
    assert (unnamed.status_code, unnamed.json()["code"]) == (400, "clinic_id_required")


async def test_the_feed_needs_events_read(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    refused = await client.get("/api/events", headers=await _key(services, clinic, "sync:inbound"))
    assert (refused.status_code, refused.json()["code"]) == (403, "permission_denied")
    assert refused.json()["error"] == "Permission denied: events:read"
    for allowed in (await _key(services, clinic, "*"), await _key(services, clinic)):
        assert (await client.get("/api/events", headers=allowed)).status_code == 200
    assert (await client.get("/api/events")).status_code == 401


async def test_bad_paging_is_refused_with_the_field_named(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    await _append(services, clinic, 2)
    headers = await _key(services, clinic)
    for query, field in (
        ("limit=0", "query.limit"),
        ("limit=1001", "query.limit"),
        ("limit=ten", "query.limit"),
        ("afterSeq=-1", "query.afterSeq"),
        ("afterSeq=1.5", "query.afterSeq"),
        ("afterSeq=9223372036854775808", "query.afterSeq"),  # past a bigint
    ):
        answer = await client.get(f"/api/events?{query}", headers=headers)
        assert answer.status_code == 400, query
        assert answer.json()["code"] == "validation_error"
        assert [p["field"] for p in answer.json()["validationErrors"]] == [field], query
    assert (await client.get("/api/events?limit=1000", headers=headers)).status_code == 200
    past = await client.get("/api/events?afterSeq=3", headers=headers)
    assert (past.status_code, past.json()["code"]) == (400, "invalid_input")
    assert "past the clinic's last event (2)" in past.json()["error"]
