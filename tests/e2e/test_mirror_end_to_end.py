"""The schedule mirror end to end: the real API over HTTP, real Chromium, the simulator.

After an inbound run the mirror holds exactly the simulator's calendar (appointments,
blocks, rosters) for the window, from the same calendar request the cases came from; a
move, a cancellation and a deletion in the simulator show after the next inbound (and a
past deletion after the next reconciliation); a PIMS failure changes nothing in it. One
simulator and one server per database (module scope), the standard profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from pims_sync.adapters.sql import tables
from tests.conftest import migrated_database
from tests.e2e.sync_stack import TODAY, Stack, StackOptions, running_stack, wall_to_utc

pytestmark = pytest.mark.browser

FIRST, LAST = TODAY - timedelta(days=1), TODAY + timedelta(days=3)
WINDOW = {"startDate": str(FIRST), "endDate": str(LAST)}


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The simulator and the service on a migrated database of each kind."""
    directory = tmp_path_factory.mktemp("mirror-e2e")
    with migrated_database(request.param, directory, "mirror") as url:
        yield from running_stack(url, StackOptions())


def kind_of(event: dict[str, Any]) -> str:
    if event["is_roster"]:
        return "roster"
    return "block" if event["is_block"] else "appointment"


def expected_row(event: dict[str, Any]) -> dict[str, Any]:
    """What the mirror must hold for one simulator event."""
    people = " ".join(p for p in (event.get("first_name"), event.get("last_name")) if p)
    return {
        "starts_at": wall_to_utc(event["start"]),
        "ends_at": wall_to_utc(event["end"]),
        "resource_id": event["resourceId"],
        "room_name": event["appointment_room_name"],
        "provider_name": event["provider"],
        "appointment_type": event["type_description"],
        "status": event["current_status"],
        "patient_name": event["patient_name"],
        "client_name": people or None,
        "removed": str(event["current_status"]).lower() == "cancelled",
    }


def truth(stack: Stack, first: date = FIRST, last: date = LAST) -> dict[tuple[str, str], Any]:
    """Every event the simulator's calendar lists for these days, by (id, kind)."""
    events = stack.control.http.get(
        "/appointments", params={"start": str(first), "end": str(last)}
    ).json()
    return {(str(e["appointment_id"]), kind_of(e)): expected_row(e) for e in events}


def mirror(
    stack: Stack, first: date = FIRST, last: date = LAST
) -> dict[tuple[str, str], dict[str, Any]]:
    """The clinic's mirror rows overlapping the days, as `expected_row` writes them."""
    table = tables.pims_appointments
    start, end = wall_to_utc(f"{first} 00:00:00"), wall_to_utc(f"{last + timedelta(1)} 00:00:00")
    query = select(table).where(
        table.c.clinic_id == stack.clinic_id, table.c.starts_at < end, table.c.ends_at > start
    )
    with stack.db.engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    columns = ("starts_at", "ends_at", "resource_id", "room_name", "provider_name")
    more = ("appointment_type", "status", "patient_name", "client_name")
    return {
        (row["external_id"], row["kind"]): {
            **{name: row[name] for name in (*columns, *more)},
            "removed": row["deleted_at"] is not None,
        }
        for row in rows
    }


def snapshot(stack: Stack) -> tuple[list[Any], list[Any]]:
    """Every mirror row and every day read, exactly (stamps included)."""
    with stack.db.engine.connect() as conn:
        rows = conn.execute(select(tables.pims_appointments)).all()
        days = conn.execute(select(tables.pims_calendar_days)).all()
    return sorted(map(tuple, rows), key=str), sorted(map(tuple, days), key=str)


def inbound(stack: Stack) -> dict[str, Any]:
    response = stack.sync("inbound", **WINDOW)
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_the_mirror_equals_the_simulators_calendar_from_the_same_request(stack: Stack) -> None:
    stack.control.post("/stats/reset")
    inbound(stack)

    expected = truth(stack)
    assert mirror(stack) == expected
    kinds = {kind for _, kind in expected}
    assert kinds == {"appointment", "block", "roster"}
    assert any(row["removed"] for row in expected.values())  # cancelled ones, marked
    # The five days are one calendar request, the one the cases came from.
    assert stack.control.stats()["endpoints"]["calendar"]["requests"] == 1
    with stack.db.engine.connect() as conn:
        days = conn.execute(
            select(tables.pims_calendar_days.c.day).where(
                tables.pims_calendar_days.c.clinic_id == stack.clinic_id
            )
        ).scalars()
        assert sorted(days) == [FIRST + timedelta(days=n) for n in range(5)]


def _upcoming(stack: Stack, offset: int, kind: str = "appointment") -> list[dict[str, Any]]:
    day = str(TODAY + timedelta(days=offset))
    events = stack.control.http.get("/appointments", params={"start": day, "end": day}).json()
    return [
        e
        for e in events
        if kind_of(e) == kind and str(e["current_status"] or "").lower() != "cancelled"
    ]


def test_a_move_a_cancellation_and_deletions_show_after_the_next_run(stack: Stack) -> None:
    inbound(stack)
    moved, cancelled = _upcoming(stack, 1)[2], _upcoming(stack, 2)[4]
    deleted, block = _upcoming(stack, 3)[1], _upcoming(stack, 2, "block")[0]
    past = [e for e in _upcoming(stack, -1) if e["current_status"] == "Finalized"][3]
    control = stack.control
    control.post(f"/appointments/{moved['id']}/move", {"start": f"{TODAY + timedelta(1)} 07:15:00"})
    control.post(f"/appointments/{cancelled['id']}/cancel", {"reason": "e2e"})
    for event in (deleted, block, past):
        control.post(f"/appointments/{event['id']}/delete")

    body = inbound(stack)
    assert body["success"] is True
    rows = mirror(stack)
    gone = {
        (str(e["id"]), kind_of(e)): {**expected_row(e), "removed": True}
        for e in (deleted, block, past)
    }
    assert rows == truth(stack) | gone  # removed from the feed: kept, marked
    key = (str(moved["id"]), "appointment")
    assert rows[key]["starts_at"] == wall_to_utc(f"{TODAY + timedelta(1)} 07:15:00")
    assert rows[str(cancelled["id"]), "appointment"]["status"] == "Cancelled"
    assert rows[str(cancelled["id"]), "appointment"]["removed"] is True

    control.reset()  # the generated world again: everything is back
    reconcile = stack.sync("reconcile", lookbackDays=1)
    assert reconcile.status_code == 200, reconcile.text
    assert mirror(stack)[str(past["id"]), "appointment"]["removed"] is False  # yesterday's
    inbound(stack)
    assert mirror(stack) == truth(stack)


@pytest.mark.parametrize("endpoint", ["calendar", "*"])
def test_a_pims_failure_changes_nothing_in_the_mirror(stack: Stack, endpoint: str) -> None:
    inbound(stack)
    before = snapshot(stack)
    stack.control.post(f"/appointments/{_upcoming(stack, 1)[0]['id']}/delete")
    stack.control.post("/faults", {"endpoint": endpoint, "status": 500, "rate": 1.0})
    try:
        failed = stack.sync("inbound", **WINDOW)
        reconcile = stack.sync("reconcile", lookbackDays=1)
    finally:
        stack.control.post("/faults", {"clear": True})
        stack.control.reset()
    assert (failed.status_code, reconcile.status_code) == (502, 502), failed.text
    assert snapshot(stack) == before


def test_an_availability_call_reads_never_read_days_first(stack: Stack) -> None:
    """Freshness before answering, with the real provider: the call runs inbound itself."""
    every_day = {
        day: ["08:00-19:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
    assert stack.api.put("/api/booking/config", json={"openingHours": every_day}).status_code == 200
    first, last = TODAY + timedelta(days=6), TODAY + timedelta(days=7)
    assert mirror(stack, first, last) == {}  # never read
    stack.control.post("/stats/reset")

    answer = stack.api.get("/api/availability", params={"date": str(first), "days": 2})

    assert answer.status_code == 200, answer.text
    freshness = answer.json()["freshness"]
    assert freshness["status"] == "refreshed", freshness
    top, _ = stack.db.audits(freshness["syncId"])
    assert (top["sync_type"], top["status"]) == ("inbound", "completed")
    assert mirror(stack, first, last) == truth(stack, first, last)
    assert stack.control.stats()["endpoints"]["calendar"]["requests"] == 1
    busy = next(
        e
        for e in stack.control.http.get(
            "/appointments", params={"start": str(first), "end": str(first)}
        ).json()
        if kind_of(e) == "appointment" and e["current_status"] != "Cancelled"
    )
    offered = {
        slot["start"][11:16]: slot["resourceIds"] for slot in answer.json()["days"][0]["slots"]
    }
    assert busy["resourceId"] not in offered.get(busy["start"][11:16], [])

    again = stack.api.get("/api/availability", params={"date": str(first), "days": 2})
    assert again.json()["freshness"]["status"] == "fresh"
    assert stack.control.stats()["endpoints"]["calendar"]["requests"] == 1  # no second read
