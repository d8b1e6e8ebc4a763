"""The availability and booking routes over HTTP, on SQLite and Postgres.

Booking rules (defaults, replace, refusals), free slots from a seeded mirror (columns,
buffers, notice, the days' freshness), the next slots, and who may ask what.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select, update

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.adapters.sql.tables import availability_holds
from pims_sync.bootstrap import Services
from pims_sync.domain.appointments import Appointment
from pims_sync.domain.booking import DEFAULT_RULES, rules_document
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.mirror import EntryKind, MirrorEntry, MirrorListing
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import PimsUnavailableError
from pims_sync.settings import Settings
from pims_sync.sync.availability import AvailabilityDesk
from pims_sync.sync.service import SyncRequest
from tests.integration.api.conftest import insert_key
from tests.integration.api.test_sync_routes import PASSWORD, SlowProvider

ZONE = ZoneInfo("America/Chicago")
MORNINGS = {
    "openingHours": {
        day: ["08:00-12:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
}


def tomorrow() -> date:
    return datetime.now(ZONE).date() + timedelta(days=1)


def local(day: date, hour: int, minute: int = 0) -> datetime:
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=ZONE)


def event(
    external_id: str, kind: EntryKind, start: datetime, minutes: int, column: str
) -> MirrorEntry:
    return MirrorEntry(
        external_id,
        kind,
        start.astimezone(UTC),
        (start + timedelta(minutes=minutes)).astimezone(UTC),
        column,
    )


@dataclass
class Desk:
    http: httpx.AsyncClient
    services: Services
    clinic: Clinic
    key: dict[str, str]

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(path, params=params, headers=self.key)

    async def seed(self, day: date, *entries: MirrorEntry, synced: datetime | None = None) -> None:
        """What an inbound run of `day` would have written to the mirror."""
        start = local(day, 0).astimezone(UTC)
        listing = MirrorListing(start, start + timedelta(days=1), {e.key: e for e in entries})
        await self.services.mirror.record(
            clinic_id=self.clinic.id, listing=listing, days=[day], now=synced or datetime.now(UTC)
        )


@pytest.fixture
async def desk(services: Services, client: httpx.AsyncClient) -> Desk:
    clinic = await services.clinics.add(name="Bella's Vet", timezone=str(ZONE))
    _, key = await insert_key(services, clinic_id=clinic.id)
    return Desk(client, services, clinic, {"X-API-Key": key})


async def test_booking_rules_default_then_replaced_and_refused_without_change(desk: Desk) -> None:
    first = await desk.get("/api/booking/config")
    assert first.status_code == 200, first.text
    assert first.json() == {
        "clinicId": str(desk.clinic.id),
        "isDefault": True,
        "rules": rules_document(DEFAULT_RULES),
    }
    body = {**MORNINGS, "slotMinutes": 20, "visitMinutes": {"Surgery": 120}}
    put = await desk.http.put("/api/booking/config", json=body, headers=desk.key)
    assert put.status_code == 200, put.text
    assert put.json()["isDefault"] is False
    assert put.json()["rules"]["slotMinutes"] == 20
    assert put.json()["rules"]["openingHours"]["sunday"] == ["08:00-12:00"]
    for bad, message in (
        ({"slotMinutes": 3}, "slotMinutes must be a whole number from 5 to 240"),
        (
            {"openingHours": {"monday": ["18:00-08:00"]}},
            "openingHours.monday: 18:00-08:00 ends before it starts",
        ),
        (
            {"openingHours": {"monday": ["08:00-12:00", "11:00-13:00"]}},
            "openingHours.monday: 08:00-12:00 and 11:00-13:00 overlap",
        ),
        ({"exceptions": {"2026-02-30": []}}, "exceptions: 2026-02-30 is not a real date"),
    ):
        refused = await desk.http.put("/api/booking/config", json=bad, headers=desk.key)
        assert (refused.status_code, refused.json()["code"]) == (400, "invalid_input"), bad
        assert refused.json()["error"] == message
    wrong: list[tuple[dict[str, Any], str]] = [
        ({"slotMinutes": "15"}, "body.slotMinutes"),
        ({"openHours": {}}, "body.openHours"),
    ]
    for bad, field in wrong:
        refused = await desk.http.put("/api/booking/config", json=bad, headers=desk.key)
        assert refused.status_code == 400, refused.text
        assert [p["field"] for p in refused.json()["validationErrors"]] == [field]
    after = await desk.get("/api/booking/config")
    assert after.json()["rules"] == put.json()["rules"]


async def test_free_slots_per_column_with_buffers_and_fresh_days(desk: Desk) -> None:
    day = tomorrow()
    rules = {**MORNINGS, "bufferAfterMinutes": 15}
    assert (
        await desk.http.put("/api/booking/config", json=rules, headers=desk.key)
    ).status_code == 200
    await desk.seed(
        day,
        event("1", EntryKind.APPOINTMENT, local(day, 9), 30, "7"),
        event("2", EntryKind.BLOCK, local(day, 10), 60, "8"),
        event("3", EntryKind.ROSTER, local(day, 8), 240, "9"),
    )
    answer = await desk.get("/api/availability", date=str(day), duration=30)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["timezone"], body["durationMinutes"]) == (str(ZONE), 30)
    assert body["freshness"]["status"] == "fresh"
    assert body["freshness"]["ageSeconds"] <= 60
    slots = {slot["start"][11:16]: slot["resourceIds"] for slot in body["days"][0]["slots"]}
    offset = local(day, 8).isoformat()[-6:]
    assert body["days"][0]["slots"][0]["start"] == f"{day}T08:00:00{offset}"
    assert slots["08:00"] == ["7", "8", "9"]  # 9: a column seen in the mirror (its roster)
    # Column 7: busy 09:00-09:30 plus 15 minutes after; the 30-minute visit and its own
    # 15 minutes after must fit: 08:15 (ends 08:45, +15 = 09:00) is the last before it.
    assert slots["08:15"] == ["7", "8", "9"]
    assert slots["08:30"] == ["8", "9"]
    assert slots["09:45"] == ["7", "9"]  # 8: blocked 10:00-11:00, its visit's buffer reaches 10:30
    assert slots["11:00"] == ["7", "8", "9"]
    assert "11:45" not in slots  # a 30-minute visit must end by 12:00
    only = await desk.get("/api/availability", date=str(day), duration=30, resourceId="8")
    assert {tuple(s["resourceIds"]) for s in only.json()["days"][0]["slots"]} == {("8",)}


async def test_next_slots_from_a_fresh_mirror_start_no_run(desk: Desk) -> None:
    day = tomorrow()
    await desk.http.put("/api/booking/config", json=MORNINGS, headers=desk.key)
    for offset in range(14):  # every day `next` looks at was read a moment ago
        await desk.seed(day + timedelta(days=offset))
    await desk.seed(day, event("1", EntryKind.APPOINTMENT, local(day, 9), 30, "7"))
    after = local(day, 8, 50).astimezone(UTC).isoformat().replace("+00:00", "Z")
    found = await desk.get("/api/availability/next", after=after, count=3, duration=15)
    assert found.status_code == 200, found.text
    body = found.json()
    assert [(s["start"][11:16], s["resourceIds"]) for s in body["slots"]] == [
        ("09:30", ["7"]),
        ("09:45", ["7"]),
        ("10:00", ["7"]),
    ]
    assert body["freshness"]["status"] == "fresh"
    assert await desk.services.runs.history(clinic_id=desk.clinic.id, limit=5) == []


def pims(desk: Desk, day: date, provider: type[FakeProvider] = FakeProvider) -> FakeProvider:
    """The clinic's PIMS from now on: one appointment in column 8 at 10:00 on `day`."""
    visit = Appointment(
        appointment_id="910001",
        start=local(day, 10),
        end=local(day, 10, 30),
        status="Scheduled",
        room_id="8",
    )
    fake = provider(appointments=[visit], password=PASSWORD)
    desk.services.pims_provider = fake
    return fake


async def stale_clinic(desk: Desk, day: date) -> None:
    """Rules, credentials, and a mirror of `day` read two hours ago: column 7 busy at 9:00."""
    await desk.http.put("/api/booking/config", json=MORNINGS, headers=desk.key)
    await desk.services.vault.save(desk.clinic.id, PimsCredentials("vet@x.com", PASSWORD))
    old = datetime.now(UTC) - timedelta(hours=2)
    await desk.seed(day, event("1", EntryKind.APPOINTMENT, local(day, 9), 30, "7"), synced=old)


def columns(answer: dict[str, Any], hour: int, minute: int = 0) -> list[str] | None:
    slots = {s["start"][11:16]: s["resourceIds"] for s in answer["days"][0]["slots"]}
    return slots.get(f"{hour:02d}:{minute:02d}")


async def test_an_old_mirror_is_read_again_before_the_answer(desk: Desk) -> None:
    day = tomorrow()
    await stale_clinic(desk, day)
    fake = pims(desk, day)

    answer = (await desk.get("/api/availability", date=str(day), duration=30)).json()

    freshness = answer["freshness"]
    assert freshness["status"] == "refreshed", freshness
    assert freshness["ageSeconds"] <= 5
    runs = await desk.services.runs.history(clinic_id=desk.clinic.id, limit=5)
    assert [(str(r.id), r.sync_type.value, r.status.value) for r in runs] == [
        (freshness["syncId"], "inbound", "completed")
    ]
    assert fake.calls["calendar"] == 1
    # The PIMS's calendar, not the old mirror's: 9:00 on 7 is free now, 10:00 on 8 is not.
    assert columns(answer, 9) == ["7", "8"]
    assert columns(answer, 10) == ["7"]
    again = (await desk.get("/api/availability", date=str(day), duration=30)).json()
    assert again["freshness"]["status"] == "fresh"
    assert fake.calls["calendar"] == 1  # fresh: no second read


async def test_a_failing_pims_leaves_the_mirror_and_says_stale(desk: Desk) -> None:
    day = tomorrow()
    await stale_clinic(desk, day)
    fake = pims(desk, day)
    fake.fail_next("calendar", PimsUnavailableError(status=503), times=20)

    answer = (await desk.get("/api/availability", date=str(day), duration=30)).json()

    freshness = answer["freshness"]
    assert freshness["status"] == "stale"
    assert freshness["detail"].startswith("the inbound run failed:"), freshness
    assert 7190 <= freshness["ageSeconds"] <= 7300  # the mirror as it was
    # From the old mirror: 7 (its only column) busy at 9:00, free at 10:00.
    assert columns(answer, 9) is None
    assert columns(answer, 10) == ["7"]


async def test_the_deadline_bounds_the_wait_and_the_run_goes_on(desk: Desk) -> None:
    day = tomorrow()
    await stale_clinic(desk, day)
    pims(desk, day, SlowProvider)  # a login takes a second
    desk.services.availability_desk = replace_deadline(desk.services, 0.3)

    answer = (await desk.get("/api/availability", date=str(day), duration=30)).json()

    freshness = answer["freshness"]
    assert freshness["status"] == "stale"
    assert freshness["detail"] == "the inbound run did not end within 0.3 s; it goes on"
    run_id = UUID(freshness["syncId"])
    for _ in range(100):
        run = await desk.services.runs.get(clinic_id=desk.clinic.id, run_id=run_id)
        if run is not None and run.finished:
            break
        await asyncio.sleep(0.05)
    assert run is not None
    assert run.status.value == "completed"  # it went on and ended well
    later = (await desk.get("/api/availability", date=str(day), duration=30)).json()
    assert later["freshness"]["status"] == "fresh"


async def test_a_run_already_going_is_joined(desk: Desk) -> None:
    day = tomorrow()
    await stale_clinic(desk, day)
    pims(desk, day, SlowProvider)
    going = await desk.services.sync.start(
        SyncRequest(desk.clinic.id, SyncType.INBOUND, Trigger.SCHEDULER, days_ahead=3)
    )

    answer = (await desk.get("/api/availability", date=str(day), duration=30)).json()

    freshness = answer["freshness"]
    assert freshness["status"] == "refreshed", freshness
    assert freshness["syncId"] == str(going.run_id)
    assert freshness["detail"] == f"joined the clinic's run {going.run_id}"
    runs = await desk.services.runs.history(clinic_id=desk.clinic.id, limit=5)
    assert [str(r.id) for r in runs] == [str(going.run_id)]  # no second run


def replace_deadline(services: Services, seconds: float) -> AvailabilityDesk:
    """The app's desk with a shorter refresh deadline."""
    settings = services.settings.model_copy(
        update={"availability_refresh_deadline_seconds": seconds}
    )
    return replace_settings(services, settings).availability_on(lambda: datetime.now(UTC))


def replace_settings(services: Services, settings: Settings) -> Services:
    services.settings = settings
    return services


async def test_refusals_name_what_is_wrong(desk: Desk) -> None:
    yesterday = datetime.now(ZONE).date() - timedelta(days=1)
    past = await desk.get("/api/availability", date=str(yesterday))
    assert (past.status_code, past.json()["code"]) == (400, "invalid_input")
    assert past.json()["error"].startswith(f"date {yesterday} is in the past for the clinic")
    await desk.http.put(
        "/api/booking/config", json={"bookableResourceIds": ["7", "8"]}, headers=desk.key
    )
    other = await desk.get("/api/availability", resourceId="9")
    assert other.json()["error"] == "resource 9 is not bookable at this clinic (bookable: 7, 8)"
    for after in ("2026-06-11T09:00:00", "1781179200", "2026-06-11"):
        naive = await desk.get("/api/availability/next", after=after)
        problems = naive.json()["validationErrors"]
        assert [p["field"] for p in problems] == ["query.after"], after
        assert problems[0]["message"].startswith("must be an instant with its offset, e.g.")
    for params, field in (
        ({"days": 15}, "query.days"),
        ({"duration": 10}, "query.duration"),
        ({"date": "2026-13-01"}, "query.date"),
    ):
        refused = await desk.get("/api/availability", **params)
        assert [p["field"] for p in refused.json()["validationErrors"]] == [field], params


async def test_permissions_read_and_write(desk: Desk) -> None:
    _, reader = await insert_key(
        desk.services, clinic_id=desk.clinic.id, permissions=["appointments:read"]
    )
    _, syncer = await insert_key(
        desk.services, clinic_id=desk.clinic.id, permissions=["sync:inbound"]
    )
    as_reader, as_syncer = {"X-API-Key": reader}, {"X-API-Key": syncer}
    assert (await desk.http.get("/api/availability", headers=as_reader)).status_code == 200
    assert (await desk.http.get("/api/booking/config", headers=as_reader)).status_code == 200
    put = await desk.http.put("/api/booking/config", json={}, headers=as_reader)
    assert (put.status_code, put.json()["code"]) == (403, "permission_denied")
    for path in ("/api/availability", "/api/availability/next", "/api/booking/config"):
        denied = await desk.http.get(path, headers=as_syncer)
        assert (denied.status_code, denied.json()["code"]) == (403, "permission_denied"), path


async def test_a_hold_takes_its_slot_until_released_or_expired(desk: Desk) -> None:
    day = tomorrow()
    rules = {**MORNINGS, "bookableResourceIds": ["7", "8"], "bufferAfterMinutes": 5}
    await desk.http.put("/api/booking/config", json=rules, headers=desk.key)
    await desk.seed(day, event("1", EntryKind.APPOINTMENT, local(day, 9), 30, "7"))
    start = local(day, 10).isoformat()
    body = {"start": start, "duration": 30, "resourceId": "8", "reference": "call 42"}
    placed = await desk.http.post("/api/availability/holds", json=body, headers=desk.key)
    assert placed.status_code == 201, placed.text
    hold = placed.json()
    assert (hold["resourceId"], hold["start"], hold["reference"]) == ("8", start, "call 42")
    assert hold["end"] == local(day, 10, 30).isoformat()
    assert hold["ttlSeconds"] == 300
    expires = datetime.fromisoformat(hold["expiresAt"].replace("Z", "+00:00"))
    assert timedelta(seconds=290) < expires - datetime.now(UTC) <= timedelta(seconds=300)

    async def columns_at(hour: int, minute: int = 0) -> list[str] | None:
        answer = (await desk.get("/api/availability", date=str(day), duration=30)).json()
        slots = {s["start"]: s["resourceIds"] for s in answer["days"][0]["slots"]}
        return slots.get(local(day, hour, minute).isoformat())

    assert await columns_at(10) == ["7"]  # 8 is held
    # 9:30 on 7 meets its appointment's 5 minutes after; on 8 it runs into the hold.
    assert await columns_at(9, 30) is None
    again = await desk.http.post("/api/availability/holds", json=body, headers=desk.key)
    assert (again.status_code, again.json()["code"]) == (409, "slot_unavailable")
    assert again.json()["error"] == (
        f"{start} cannot be held for a 30-minute visit on column 8: "
        "another appointment, block or hold takes it"
    )
    alternatives = again.json()["alternatives"]
    assert [a["start"] for a in alternatives] == [
        local(day, 10, 45).isoformat(),
        local(day, 11).isoformat(),
        local(day, 11, 15).isoformat(),
    ]
    assert {tuple(a["resourceIds"]) for a in alternatives} == {("8",)}
    anywhere = {"start": start, "duration": 30}
    other = await desk.http.post("/api/availability/holds", json=anywhere, headers=desk.key)
    assert (other.status_code, other.json()["resourceId"]) == (201, "7")  # the next free column

    gone = await desk.http.delete(f"/api/availability/holds/{hold['holdId']}", headers=desk.key)
    assert gone.json() == {"holdId": hold["holdId"], "status": "released"}
    twice = await desk.http.delete(f"/api/availability/holds/{hold['holdId']}", headers=desk.key)
    assert twice.json()["status"] == "already_released"
    assert await columns_at(10) == ["8"]  # 7 is held by the second hold

    await _expire(desk, other.json()["holdId"])
    assert await columns_at(10) == ["7", "8"]  # expired: counts no more, at once
    lapsed = await desk.http.delete(
        f"/api/availability/holds/{other.json()['holdId']}", headers=desk.key
    )
    assert lapsed.json()["status"] == "expired"


async def _expire(desk: Desk, hold_id: str) -> None:
    """What the passing of its ttl does to a hold."""
    table = availability_holds
    async with desk.services.engine.begin() as conn:
        await conn.execute(
            update(table)
            .where(table.c.id == UUID(hold_id))
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )


async def test_hold_refusals(desk: Desk) -> None:
    day = tomorrow()
    await desk.http.put("/api/booking/config", json=MORNINGS, headers=desk.key)
    await desk.seed(day, event("1", EntryKind.APPOINTMENT, local(day, 9), 30, "7"))
    closed = {"start": local(day, 13).isoformat(), "duration": 30}
    refused = await desk.http.post("/api/availability/holds", json=closed, headers=desk.key)
    assert refused.status_code == 409
    assert refused.json()["error"].endswith("the clinic is not open for the whole visit then")
    soon = {"start": datetime.now(UTC).isoformat(), "duration": 30}
    refused = await desk.http.post("/api/availability/holds", json=soon, headers=desk.key)
    assert refused.json()["error"].endswith("inside the clinic's minimum notice of 60 minutes")
    for bad, message in (
        ({"ttlSeconds": 901}, "ttlSeconds must be a whole number from 30 to 900"),
        ({"reference": "\x00"}, "reference must be 1 to 200 printable characters"),
    ):
        body = {"start": local(day, 10).isoformat(), "duration": 30, **bad}
        answer = await desk.http.post("/api/availability/holds", json=body, headers=desk.key)
        assert (answer.status_code, answer.json()["error"]) == (400, message)
    for bad, field in (
        ({"start": "2026-06-11T09:00:00"}, "body.start"),
        ({"start": local(day, 10).isoformat(), "duration": "30"}, "body.duration"),
        ({"start": local(day, 10).isoformat(), "duration": 10}, "body.duration"),
        ({"start": local(day, 10).isoformat(), "ttlSeconds": 60.5}, "body.ttlSeconds"),
    ):
        answer = await desk.http.post("/api/availability/holds", json=bad, headers=desk.key)
        assert [p["field"] for p in answer.json()["validationErrors"]] == [field], bad
    unknown = uuid4()
    missing = await desk.http.delete(f"/api/availability/holds/{unknown}", headers=desk.key)
    assert (missing.status_code, missing.json()["error"]) == (404, f"Hold not found: {unknown}")
    async with desk.services.engine.connect() as conn:
        assert (await conn.execute(select(availability_holds))).all() == []
