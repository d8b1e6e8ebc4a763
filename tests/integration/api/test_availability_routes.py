"""The availability and booking routes over HTTP, on SQLite and Postgres.

Booking rules (defaults, replace, refusals), free slots from a seeded mirror (columns,
buffers, notice, the days' freshness), the next slots, and who may ask what.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from pims_sync.bootstrap import Services
from pims_sync.domain.booking import DEFAULT_RULES, rules_document
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.mirror import EntryKind, MirrorEntry, MirrorListing
from tests.integration.api.conftest import insert_key

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


async def test_next_slots_and_stale_days(desk: Desk) -> None:
    day = tomorrow()
    await desk.http.put("/api/booking/config", json=MORNINGS, headers=desk.key)
    old = datetime.now(UTC) - timedelta(hours=2)
    await desk.seed(day, event("1", EntryKind.APPOINTMENT, local(day, 9), 30, "7"), synced=old)
    after = local(day, 8, 50).astimezone(UTC).isoformat().replace("+00:00", "Z")
    found = await desk.get("/api/availability/next", after=after, count=3, duration=15)
    assert found.status_code == 200, found.text
    body = found.json()
    assert [(s["start"][11:16], s["resourceIds"]) for s in body["slots"]] == [
        ("09:30", ["7"]),
        ("09:45", ["7"]),
        ("10:00", ["7"]),
    ]
    assert body["freshness"]["status"] == "stale"  # two hours old, and day 2 never read
    two = await desk.get("/api/availability", date=str(day), days=2)
    freshness = two.json()["freshness"]
    assert freshness["status"] == "stale"
    assert freshness["detail"] == f"the PIMS calendar of {day + timedelta(days=1)} was never read"
    assert "lastSyncAt" not in freshness
    one = (await desk.get("/api/availability", date=str(day))).json()["freshness"]
    assert one["status"] == "stale"
    assert 7190 <= one["ageSeconds"] <= 7300


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
