"""Calendar, page-data, search and appointment endpoints against docs/idexx.md's examples."""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import httpx

from tests.simulator.conftest import login, week
from tests.simulator.spec_examples import (
    APPOINTMENT_VIEW_KEYS,
    CALENDAR_APPOINTMENT,
    CALENDAR_BLOCK,
    GET_APPOINTMENT,
    PAGE_DATA,
    SEARCH_PATIENT,
    same_shape,
)

TODAY = "2026-01-22"


def appointments(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if not e["is_block"] and not e["is_roster"]]


async def test_calendar_events_have_the_spec_names_and_types(client: httpx.AsyncClient) -> None:
    events = await week(client)
    assert isinstance(events, list)
    for event in appointments(events):
        assert same_shape(CALENDAR_APPOINTMENT, event) == []
        assert set(CALENDAR_APPOINTMENT) <= set(event)
    blocks = [e for e in events if e["is_block"]]
    assert blocks
    for block in blocks:
        assert same_shape(CALENDAR_BLOCK, block) == []
        assert block["patient_id"] is None
        assert block["client_id"] is None
    for key in ("email", "phone_number", "consultation_id", "arrival_date_time"):
        assert any(e[key] is not None for e in appointments(events)), key


async def test_calendar_volume_ids_and_wall_clock(client: httpx.AsyncClient) -> None:
    events = await week(client)
    per_day = Counter(e["start"][:10] for e in events)
    assert len(per_day) == 7
    assert all(40 <= n <= 45 for n in per_day.values()), per_day
    assert all(100_000 <= e["id"] <= 999_999 for e in events)
    assert all(e["id"] == e["appointment_id"] for e in events)
    assert len({e["id"] for e in events}) == len(events)
    assert all(len(e["start"]) == 19 and e["start"][10] == " " for e in events)
    assert any(e["is_roster"] for e in events)
    assert any(e["is_block"] for e in events)
    assert all(isinstance(e["resourceId"], str) for e in events)


async def test_statuses_and_consultations_follow_the_clock(client: httpx.AsyncClient) -> None:
    past = await week(client, "2026-01-15", "2026-01-21")
    future = await week(client, "2026-01-23", "2026-01-29")
    today = await week(client, TODAY, TODAY)
    status = defaultdict(set)
    for label, events in (("past", past), ("today", today), ("future", future)):
        status[label] = {e["current_status"] for e in appointments(events)}
    assert status["past"] <= {"Finalized", "No Show", "Cancelled"}
    assert {"Finalized", "No Show"} <= status["past"]
    assert status["future"] <= {"Scheduled", "Cancelled"}
    assert "Scheduled" in status["future"]
    assert all(e["consultation_id"] is None for e in future)
    for e in appointments(past):  # a past visit has a consultation iff it took place
        assert (e["consultation_id"] is not None) == (e["current_status"] == "Finalized")
    for e in appointments(today):  # today: every visit not cancelled or missed has one
        if e["current_status"] in {"No Show", "Cancelled"}:
            assert e["consultation_id"] is None
        elif e["current_status"] != "not arrived":
            assert e["consultation_id"] is not None
    for e in appointments(past + today):
        if e["consultation_id"] is not None:
            assert 700_000 <= e["consultation_id"] <= 999_999


async def test_same_day_statuses_over_a_day(client: httpx.AsyncClient) -> None:
    await client.post("/__sim__/clock", json={"now": f"{TODAY} 12:00:00"})
    seen = {e["current_status"] for e in appointments(await week(client, TODAY, TODAY))}
    assert {"Finalized", "not arrived"} <= seen
    assert seen <= {
        "Finalized", "No Show", "Cancelled", "not arrived", "arrived", "In Progress",
        "Ready to Pay",
    }  # fmt: skip


async def test_calendar_envelope_switch(client: httpx.AsyncClient) -> None:
    bare = await week(client)
    await client.post("/__sim__/settings", json={"calendarEnvelope": "events"})
    wrapped = await week(client)
    assert wrapped == {"events": bare}


async def test_calendar_window_is_an_overlap_and_needs_both_bounds(
    client: httpx.AsyncClient,
) -> None:
    noon = await client.get(
        "/appointments/getCalendarEventData",
        params={"start": f"{TODAY} 12:00:00", "end": f"{TODAY} 12:00:00"},
    )
    events = noon.json()
    assert events
    assert all(e["start"] <= f"{TODAY} 12:00:00" <= e["end"] for e in events)
    bad = await client.get("/appointments/getCalendarEventData", params={"start": "yesterday"})
    assert bad.status_code == 400


async def first_consultation(client: httpx.AsyncClient, day: str = "2026-01-20") -> int:
    events = appointments(await week(client, day, day))
    return next(e["consultation_id"] for e in events if e["consultation_id"])


async def test_page_data_has_the_spec_names_and_types(client: httpx.AsyncClient) -> None:
    consultation = await first_consultation(client)
    response = await client.get(f"/consultations/{consultation}/page-data")
    assert response.status_code == 200
    data = response.json()
    assert same_shape(PAGE_DATA, data) == []
    assert data["consultation"]["id"] == consultation
    assert data["consultation"]["status"] == "completed"
    assert data["consultationNotes"]["notes"].startswith("<p>Appointment reason:")
    assert data["consultation"]["notes"] == ""
    lines = data["consultationLines"]
    assert lines
    assert all(isinstance(line["isDeclined"], bool) for line in lines)


async def test_page_data_404_for_future_and_unknown(client: httpx.AsyncClient) -> None:
    future = appointments(await week(client, "2026-01-25", "2026-01-25"))[0]
    assert future["consultation_id"] is None
    for consultation in (future["id"] + 330_000, 123, "abc"):
        response = await client.get(f"/consultations/{consultation}/page-data")
        assert response.status_code == 404
        assert response.headers["content-type"].startswith("application/json")


async def test_some_notes_are_written_hours_late(client: httpx.AsyncClient) -> None:
    await client.post("/__sim__/clock", json={"now": f"{TODAY} 19:30:00"})
    await login(client)  # 90 simulated minutes later the session has expired
    states: Counter[tuple[str, bool]] = Counter()
    for event in appointments(await week(client, TODAY, TODAY)):
        if event["consultation_id"]:
            data = (await client.get(f"/consultations/{event['consultation_id']}/page-data")).json()
            states[data["consultation"]["status"], bool(data["consultationNotes"]["notes"])] += 1
    assert states[("in_progress", False)] >= 2
    assert states[("completed", True)] >= 10
    assert set(states) == {("in_progress", False), ("completed", True)}
    await client.post("/__sim__/clock", json={"advanceMinutes": 10 * 60})
    await login(client)
    for event in appointments(await week(client, TODAY, TODAY)):
        if event["consultation_id"]:
            data = (await client.get(f"/consultations/{event['consultation_id']}/page-data")).json()
            assert data["consultation"]["status"] == "completed"


async def test_patient_search_uses_the_discovered_nested_shape(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/search/patients", params={"q": "munoz", "limit": 5})
    results = response.json()["results"]
    assert results["patients"] == {"data": [], "objects": []}
    found = results["suggested"]["objects"]
    assert 1 <= len(found) <= 5
    for patient in found:
        assert same_shape(SEARCH_PATIENT, patient) == []
        assert patient["client"]["lastName"] == "MUÑOZ"  # accent-insensitive match
    empty = await client.get("/search/patients", params={"q": "zzzz-nobody"})
    assert empty.json()["results"]["suggested"]["objects"] == []


async def test_get_appointment_and_view(client: httpx.AsyncClient) -> None:
    event = appointments(await week(client, "2026-01-27", "2026-01-27"))[0]
    details = (await client.get("/appointments/getAppointment", params={"id": event["id"]})).json()
    assert same_shape(GET_APPOINTMENT, details["appointment"]) == []
    assert details["appointment"]["id"] == str(event["id"])
    assert details["appointment"]["startAtLocal"] == event["start"]
    missing = await client.get("/appointments/getAppointment", params={"id": "1"})
    assert missing.status_code == 404
    view = (await client.get("/appointments/getAppointmentView")).json()
    assert set(view) == APPOINTMENT_VIEW_KEYS
    assert {room["id"] for room in view["appointmentRooms"]} >= {
        int(e["resourceId"]) for e in await week(client)
    }
