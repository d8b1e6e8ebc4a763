"""Concurrent holds through the real HTTP server, on SQLite and Postgres: one slot, one winner.

50 requests for the same slot of the same column, sent at once to uvicorn over separate
connections: exactly one 201, and 49 × 409 `slot_unavailable` each offering three other
slots; the database holds exactly one live hold there. Without a column asked for, each
free column is held once and the rest are refused.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from sqlalchemy import select

from pims_sync.adapters.sql.tables import availability_holds
from tests.reliability.api_stack import ZONE, HostileApi, check_envelope, running_api

HOLDS = "/api/availability/holds"
REQUESTS = 50
COLUMNS = ["7", "8", "9"]
RULES = {
    "openingHours": {
        day: ["08:00-18:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    },
    "bookableResourceIds": COLUMNS,
}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileApi]:
    """The running service on each database in turn, the clinic open every day."""
    with running_api(request.param, request, tmp_path_factory.mktemp("holds")) as running:
        headers = {"X-API-Key": running.who.clinic_key}
        with httpx.Client(base_url=running.base_url, headers=headers, timeout=60) as http:
            assert http.put("/api/booking/config", json=RULES).status_code == 200
        yield running


def at(hour: int) -> str:
    """Tomorrow at `hour`, clinic time, with its offset."""
    zone = ZoneInfo(ZONE)
    day = datetime.now(zone).date() + timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone).isoformat()


async def _race(api: HostileApi, body: dict[str, Any]) -> list[httpx.Response]:
    """REQUESTS identical POSTs at once, each on its own connection."""
    limits = httpx.Limits(max_connections=REQUESTS, max_keepalive_connections=0)
    headers = {"X-API-Key": api.who.clinic_key}
    async with httpx.AsyncClient(
        base_url=api.base_url, headers=headers, timeout=120, limits=limits
    ) as client:
        return list(await asyncio.gather(*(client.post(HOLDS, json=body) for _ in range(REQUESTS))))


def _live_rows(api: HostileApi, start: str) -> list[Any]:
    table = availability_holds
    with api.db.connect() as conn:
        rows = conn.execute(select(table).where(table.c.released_at.is_(None))).all()
    wanted = datetime.fromisoformat(start)
    return [row for row in rows if row.starts_at == wanted]


def _refusals_offer_three_other_slots(refused: list[httpx.Response], start: str) -> None:
    for response in refused:
        body = check_envelope(409, response.json())
        assert body["code"] == "slot_unavailable", body
        alternatives = body["alternatives"]
        assert len(alternatives) == 3, body
        assert all(a["start"] != start for a in alternatives), body


def test_fifty_concurrent_holds_of_one_slot_one_wins(api: HostileApi) -> None:
    start = at(10)
    answers = asyncio.run(_race(api, {"start": start, "duration": 30, "resourceId": "7"}))

    by_status = Counter(response.status_code for response in answers)
    assert by_status == {201: 1, 409: REQUESTS - 1}, by_status
    [won] = [r.json() for r in answers if r.status_code == 201]
    assert (won["resourceId"], won["start"]) == ("7", start)
    _refusals_offer_three_other_slots([r for r in answers if r.status_code == 409], start)
    rows = _live_rows(api, start)
    assert [(str(row.id), row.resource_id) for row in rows] == [(won["holdId"], "7")]


def test_without_a_column_each_free_column_is_held_once(api: HostileApi) -> None:
    start = at(14)
    answers = asyncio.run(_race(api, {"start": start, "duration": 30}))

    by_status = Counter(response.status_code for response in answers)
    assert by_status == {201: len(COLUMNS), 409: REQUESTS - len(COLUMNS)}, by_status
    won = sorted(r.json()["resourceId"] for r in answers if r.status_code == 201)
    assert won == COLUMNS
    _refusals_offer_three_other_slots([r for r in answers if r.status_code == 409], start)
    assert sorted(row.resource_id for row in _live_rows(api, start)) == COLUMNS
