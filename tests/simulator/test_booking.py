"""The IDEXX write endpoints: multipart create, cancel/delete, new clients and patients."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.simulator.conftest import week

DAY = "2026-01-27"


def multipart(fields: dict[str, str]) -> dict[str, tuple[None, str]]:
    return {name: (None, value) for name, value in fields.items()}


def taking_time(events: list[Any], room: str) -> list[tuple[str, str]]:
    """(start, end) of the events holding a column: live appointments and blocks."""
    return sorted(
        (e["start"], e["end"])
        for e in events
        if e["resourceId"] == room and not e["is_roster"] and e["current_status"] != "Cancelled"
    )


def free_slot(events: list[Any], room: str, day: str, minutes: int = 15) -> tuple[str, str]:
    """The first HH:MM start and end on `day` where nothing holds the column."""
    taken = taking_time(events, room)
    start = datetime.fromisoformat(f"{day} 07:00:00")
    while True:
        end = start + timedelta(minutes=minutes)
        first, last = f"{start:%Y-%m-%d %H:%M:%S}", f"{end:%Y-%m-%d %H:%M:%S}"
        if all(not (s < last and e > first) for s, e in taken):
            return f"{start:%H:%M}", f"{end:%H:%M}"
        start += timedelta(minutes=15)


async def test_create_appointment_is_multipart_and_returns_only_success(
    client: httpx.AsyncClient,
) -> None:
    before = {e["id"] for e in await week(client, DAY, DAY)}
    view = (await client.get("/appointments/getAppointmentView")).json()
    patient = (await client.get("/search/patients", params={"q": "a", "limit": 1})).json()
    patient_id = patient["results"]["suggested"]["objects"][0]["id"]
    room = str(view["appointmentRooms"][0]["id"])
    begins, ends = free_slot(await week(client, DAY, DAY), room, DAY)
    fields = {
        "patient_id": str(patient_id),
        "type_id": str(view["appointmentTypes"][1]["id"]),
        "user_id": str(view["providers"][1]["id"]),
        "room": room,
        "appointment_date": DAY,
        "time": begins,
        "time_end": ends,
        "useRealEndTime": "true",
    }
    response = await client.post("/appointments/create", files=multipart(fields))
    assert (response.status_code, response.json()) == (200, {"success": True})
    new = [e for e in await week(client, DAY, DAY) if e["id"] not in before]
    assert len(new) == 1
    assert (new[0]["patient_id"], new[0]["start"], new[0]["end"]) == (
        patient_id, f"{DAY} {begins}:00", f"{DAY} {ends}:00",
    )  # fmt: skip
    assert new[0]["resourceId"] == fields["room"]
    as_json = await client.post("/appointments/create", json=fields)
    assert as_json.status_code == 400
    unknown = await client.post(
        "/appointments/create", files=multipart({**fields, "patient_id": "1"})
    )
    assert unknown.status_code == 400
    assert unknown.json()["success"] is False


async def test_delete_endpoint_cancels_or_deletes(client: httpx.AsyncClient) -> None:
    events = [e for e in await week(client, DAY, DAY) if e["current_status"] == "Scheduled"]
    cancel, delete = events[0]["id"], events[1]["id"]
    response = await client.post(
        f"/appointments/delete/{cancel}", json={"action": "cancel", "reason": "Cancelled via phone"}
    )
    assert response.json() == {"success": True}
    response = await client.post(f"/appointments/delete/{delete}", json={"action": "delete"})
    assert response.json() == {"success": True}
    feed = {e["id"]: e for e in await week(client, DAY, DAY)}
    assert feed[cancel]["current_status"] == "Cancelled"
    assert delete not in feed
    assert (await client.post(f"/appointments/delete/{delete}", json={})).status_code == 404
    bad = await client.post(f"/appointments/delete/{cancel}", json={"action": "archive"})
    assert bad.status_code == 400


async def test_create_client_then_patient(client: httpx.AsyncClient) -> None:
    payload = {
        "firstName": "RENÉE", "lastName": "NÚÑEZ", "title": "Ms", "homePhone": "",
        "workPhone": "", "mobilePhone": "408-555-0100", "email": "renee@example.com",
        "address1": "1 Main St", "address2": "", "address3": "", "suburb": "",
        "city": "San Jose", "state": "CA", "postalCode": "95110", "country": "US",
    }  # fmt: skip
    created = (await client.post("/clients/create", json=payload)).json()
    assert created["success"] is True
    assert isinstance(created["client"]["id"], int)
    assert created["client"]["firstName"] == "RENÉE"
    patient_payload = {
        "name": "CHURRO", "species": {"id": "4", "name": "Canine", "active": True},
        "breed": {"id": "1298", "name": "French Bulldog"}, "color": "CREAM",
        "gender": {"id": "2", "name": "Male"}, "dob": "2024-05-01", "client": created["client"],
    }  # fmt: skip
    patient = (await client.post("/patients/create", json=patient_payload)).json()
    assert patient["success"] is True
    assert set(patient["patient"]) == {
        "id",
        "formattedId",
        "name",
        "breed",
        "species",
        "color",
        "gender",
    }
    found = (await client.get("/search/patients", params={"q": "churro nunez"})).json()
    assert [p["id"] for p in found["results"]["suggested"]["objects"]] == [patient["patient"]["id"]]
    assert (await client.post("/clients/create", json={"firstName": "X"})).status_code == 400
    orphan = {**patient_payload, "client": {"id": 1}}
    assert (await client.post("/patients/create", json=orphan)).status_code == 400
