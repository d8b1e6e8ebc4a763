"""The booking write-back routes over HTTP with the fake PIMS, on SQLite and Postgres.

Exactly once (keys, repeats, concurrent creates for one slot on the real databases'
holds), what each route refuses, who may call them, and the booking seen at once by
availability. The same routes against the simulator with real Chromium:
tests/e2e/test_booking_end_to_end.py.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from pims_sync.adapters.memory.provider import FakeProvider, FakeSession
from pims_sync.bootstrap import Services
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.pims_writes import AppointmentRequest, PimsClient, PimsPatient
from tests.integration.api.conftest import insert_key

ZONE = ZoneInfo("America/Chicago")
PASSWORD = "right-password"
CREATE = "/api/appointments/create"


def weekday() -> date:
    """A Monday-to-Friday day after today (open 08:00-18:00 by the default rules)."""
    day = datetime.now(ZONE).date() + timedelta(days=1)
    while day.weekday() >= 5:
        day += timedelta(days=1)
    return day


@dataclass
class Desk:
    http: httpx.AsyncClient
    services: Services
    clinic: Clinic
    pims: FakeProvider
    key: dict[str, str]

    async def post(self, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
        headers = self.key if key is None else {**self.key, "Idempotency-Key": key}
        return await self.http.post(path, json=body, headers=headers)


@pytest.fixture
async def desk(services: Services, client: httpx.AsyncClient) -> Desk:
    clinic = await services.clinics.add(name="Bella's Vet", timezone=str(ZONE))
    pims = FakeProvider(password=PASSWORD)
    pims.add_patient(PimsPatient("48290", "RYDER"), PimsClient("19765", "JORDAN", "REYES"))
    services.pims_provider = pims
    await services.vault.save(clinic.id, PimsCredentials("vet@x.com", PASSWORD))
    _, key = await insert_key(services, clinic_id=clinic.id)
    return Desk(client, services, clinic, pims, {"X-API-Key": key})


def visit(hour: int = 10, **changes: Any) -> dict[str, Any]:
    body = {
        "patientId": "48290",
        "date": str(weekday()),
        "startTime": f"{hour:02d}:00",
        "endTime": f"{hour:02d}:30",
        "reason": "Exam",
        "roomId": "7",
    }
    return body | changes


async def test_twenty_creates_for_one_slot_book_once_and_refuse_nineteen(desk: Desk) -> None:
    answers = await asyncio.gather(
        *(desk.post(CREATE, visit(), key=f"caller-{n}") for n in range(20))
    )

    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] + [409] * 19, [a.text for a in answers if a.status_code >= 500]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["code"] == "slot_unavailable"
        assert len(refused.json()["alternatives"]) == 3
    assert len(desk.pims.live_bookings()) == 1


async def test_a_lost_answer_retried_five_times_books_once(desk: Desk) -> None:
    desk.pims.lose_next_answer("create")

    answers = [await desk.post(CREATE, visit(), key="retry-me") for _ in range(5)]

    assert {a.status_code for a in answers} == {200}
    assert {a.json()["appointment"]["id"] for a in answers} == set(desk.pims.created)
    assert len(desk.pims.live_bookings()) == 1
    assert [a.json().get("replayed", False) for a in answers] == [False] + [True] * 4


async def test_a_repeat_while_the_first_is_in_flight_is_409(
    desk: Desk, monkeypatch: pytest.MonkeyPatch
) -> None:
    create = FakeSession.create_appointment

    async def slow(session: FakeSession, request: AppointmentRequest) -> None:
        await asyncio.sleep(0.5)
        await create(session, request)

    monkeypatch.setattr(FakeSession, "create_appointment", slow)
    first, second = await asyncio.gather(
        desk.post(CREATE, visit(), key="same"),
        desk.post(CREATE, visit(), key="same"),
    )

    assert sorted([first.status_code, second.status_code]) == [200, 409]
    refused = first if first.status_code == 409 else second
    assert refused.json()["code"] == "write_in_progress"
    assert len(desk.pims.live_bookings()) == 1


async def test_the_booking_is_seen_by_availability_at_once(desk: Desk) -> None:
    made = await desk.post(CREATE, visit(), key="k1")
    assert made.status_code == 200, made.text

    day = weekday()
    asked = {"date": str(day), "duration": 30, "resourceId": "7"}
    answer = await desk.http.get("/api/availability", params=asked, headers=desk.key)

    starts = [slot["start"] for slot in answer.json()["days"][0]["slots"]]
    ten = datetime(day.year, day.month, day.day, 10, tzinfo=ZONE).isoformat()
    assert ten not in starts
    assert answer.json()["freshness"]["status"] == "fresh"  # the write read the day


async def test_refusals_change_nothing(desk: Desk) -> None:
    refusals: list[tuple[dict[str, Any], str | None, int, str]] = [
        (visit(), None, 400, "idempotency_key_required"),
        (visit(), "has space", 400, "idempotency_key_invalid"),
        (visit(date="2026-02-30"), "k", 400, "validation_error"),
        (visit(startTime="9:00"), "k", 400, "validation_error"),
        (visit(patientId=None), "k", 400, "validation_error"),
        (visit(isNewClient=True), "k", 400, "validation_error"),
        (visit(endTime="09:00"), "k2", 400, "invalid_input"),
    ]
    for body, key, status, code in refusals:
        answer = await desk.post(CREATE, body, key=key)
        assert (answer.status_code, answer.json()["code"]) == (status, code), body
    assert desk.pims.created == []
    cancel = await desk.post("/api/appointments/cancel", {"appointmentId": "4242"})
    assert (cancel.status_code, cancel.json()["code"]) == (404, "appointment_not_found")


async def test_who_may_call_what(desk: Desk) -> None:
    services, clinic = desk.services, desk.clinic
    _, reader = await insert_key(services, clinic_id=clinic.id, permissions=["appointments:read"])
    _, writer = await insert_key(services, clinic_id=clinic.id, permissions=["appointments:write"])
    _, service = await insert_key(services, clinic_id=None)
    search = {"query": "RYDER", "limit": 5}

    def as_(key: str, idempotency: str = "k") -> dict[str, str]:
        return {"X-API-Key": key, "Idempotency-Key": idempotency}

    read_only = await desk.http.post(CREATE, json=visit(), headers=as_(reader))
    assert (read_only.status_code, read_only.json()["code"]) == (403, "permission_denied")
    path = "/api/appointments/search-patient"
    write_only = await desk.http.post(path, json=search, headers=as_(writer))
    assert write_only.status_code == 403
    unnamed = await desk.http.post(CREATE, json=visit(), headers=as_(service))
    assert (unnamed.status_code, unnamed.json()["code"]) == (400, "clinic_id_required")
    named = await desk.http.post(
        path, json={**search, "clinicId": str(clinic.id)}, headers=as_(service)
    )
    assert named.status_code == 200, named.text
    assert [p["patientId"] for p in named.json()["patients"]] == ["48290"]
