"""What the simulator refuses on a write: overlaps, bad forms, a missing CSRF token; and the
fault that applies a write and then drops the connection (the double-booking case)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest

from tests.simulator.conftest import change_settings, live_login, week
from tests.simulator.test_booking import DAY, free_slot, multipart

CSRF_META = re.compile(r"<meta name='csrf-token' content='([^']+)'>")


async def booking(client: httpx.AsyncClient, **changes: str) -> dict[str, str]:
    """A valid create form for a free 15 minutes of the first room on DAY, with changes."""
    view = (await client.get("/appointments/getAppointmentView")).json()
    found = (await client.get("/search/patients", params={"q": "a", "limit": 1})).json()
    room = str(view["appointmentRooms"][0]["id"])
    begins, ends = free_slot(await week(client, DAY, DAY), room, DAY)
    fields = {
        "patient_id": str(found["results"]["suggested"]["objects"][0]["id"]),
        "type_id": str(view["appointmentTypes"][1]["id"]),
        "user_id": str(view["providers"][1]["id"]),
        "room": room,
        "appointment_date": DAY,
        "time": begins,
        "time_end": ends,
        "useRealEndTime": "true",
    }
    return fields | changes


async def create(client: httpx.AsyncClient, fields: dict[str, str]) -> httpx.Response:
    return await client.post("/appointments/create", files=multipart(fields))


async def test_a_booking_overlapping_the_column_is_refused_with_409(
    client: httpx.AsyncClient,
) -> None:
    fields = await booking(client)
    assert (await create(client, fields)).status_code == 200
    before = await week(client, DAY, DAY)
    # The same column, 5 minutes later: overlaps the booking just made.
    again = await create(client, fields | {"time_end": _plus_15(fields["time_end"])})
    assert again.status_code == 409
    shifted = fields | {"time": fields["time"][:4] + "5", "time_end": _plus_15(fields["time_end"])}
    again = await create(client, shifted)
    assert again.status_code == 409
    body = again.json()
    assert body["success"] is False
    assert "overlaps" in body["message"]
    assert await week(client, DAY, DAY) == before  # nothing was booked


async def test_every_existing_appointment_and_block_holds_its_column(
    client: httpx.AsyncClient,
) -> None:
    events = await week(client)
    held = [e for e in events if not e["is_roster"] and e["current_status"] != "Cancelled"]
    blocks = [e for e in held if e["is_block"]]
    assert blocks, "the seed should have a block that week"
    fields = await booking(client)
    for event in [*blocks[:3], *held[:7]]:
        day, start, end = event["start"][:10], event["start"][11:16], event["end"][11:16]
        changes = {"room": event["resourceId"], "appointment_date": day, "time": start}
        refused = await create(client, fields | changes | {"time_end": end})
        assert refused.status_code == 409, event


async def test_touching_and_cancelled_bookings_do_not_overlap(client: httpx.AsyncClient) -> None:
    fields = await booking(client)
    begins, ends = free_slot(await week(client, DAY, DAY), fields["room"], DAY, minutes=30)
    first = fields | {"time": begins, "time_end": _plus_15(begins)}
    second = fields | {"time": first["time_end"], "time_end": ends}
    assert (await create(client, first)).status_code == 200
    # Starting where the other ends is no overlap (half-open slots).
    assert (await create(client, second)).status_code == 200
    events = await week(client, DAY, DAY)
    mine = next(
        e
        for e in events
        if e["start"] == f"{DAY} {begins}:00" and e["resourceId"] == fields["room"]
    )
    cancelled = await client.post(f"/appointments/delete/{mine['id']}", json={"action": "cancel"})
    assert cancelled.json() == {"success": True}
    assert (await create(client, first)).status_code == 200  # the cancelled one frees it
    assert (await create(client, first)).status_code == 409  # ... once


def _plus_15(hh_mm: str) -> str:
    hours, minutes = divmod(int(hh_mm[:2]) * 60 + int(hh_mm[3:]) + 15, 60)
    return f"{hours:02d}:{minutes:02d}"


@pytest.mark.parametrize(
    ("changes", "field", "said"),
    [
        ({"patient_id": ""}, "patient_id", "Patient not found"),
        ({"patient_id": "1"}, "patient_id", "Patient not found"),
        ({"time": "9:30am"}, "time", "time must be HH:MM"),
        ({"time": "25:00"}, "time", "time must be HH:MM"),
        ({"appointment_date": "27.01.2026"}, "appointment_date", "appointment_date must be"),
        ({"time": "10:00", "time_end": "09:45"}, "time_end", "time_end must be after time"),
        ({"room": "999"}, "room", "Room not found"),
        ({"type_id": "abc"}, "type_id", "Appointment type not found"),
        ({"user_id": "31337"}, "user_id", "Provider not found"),
    ],
)
async def test_validation_errors_name_the_field(
    client: httpx.AsyncClient, changes: dict[str, str], field: str, said: str
) -> None:
    before = await week(client, DAY, DAY)
    response = await create(client, await booking(client, **changes))
    assert response.status_code == 400
    body = response.json()
    assert body["success"] is False
    assert body["errors"][field].startswith(said)
    assert body["error"] == next(iter(body["errors"].values()))
    assert await week(client, DAY, DAY) == before


async def test_room_zero_means_the_default_column(client: httpx.AsyncClient) -> None:
    # The original's new-client path sent room 0: accepted, the clinic's first column.
    fields = await booking(client, room="0")
    assert (await create(client, fields)).status_code == 200


async def test_with_write_csrf_writes_need_the_pages_token(client: httpx.AsyncClient) -> None:
    response = await client.post("/__sim__/settings", json={"writeCsrf": True})
    assert response.status_code == 200
    fields = await booking(client)
    refused = await create(client, fields)
    assert refused.status_code == 403
    assert refused.json()["message"] == "CSRF token mismatch."
    page = await client.get("/appointments", headers={"Accept": "text/html"})
    token = CSRF_META.search(page.text)
    assert token is not None
    wrong = await client.post(
        "/appointments/create", files=multipart(fields), headers={"X-CSRF-Token": "nope"}
    )
    assert wrong.status_code == 403
    right = await client.post(
        "/appointments/create", files=multipart(fields), headers={"X-CSRF-Token": token.group(1)}
    )
    assert right.status_code == 200
    # The reads need none; the other writes do.
    assert (await client.get("/appointments/getAppointmentView")).status_code == 200
    assert (
        await client.post("/clients/create", json={"firstName": "A", "lastName": "B"})
    ).status_code == 403


async def test_the_standard_profile_shows_no_token_and_asks_none(
    client: httpx.AsyncClient,
) -> None:
    page = await client.get("/appointments", headers={"Accept": "text/html"})
    assert CSRF_META.search(page.text) is None
    assert (await create(client, await booking(client))).status_code == 200


def test_the_wild_profile_asks_for_the_write_token(live: httpx.Client) -> None:
    assert change_settings(live, profile="wild")["writeCsrf"] is True


@pytest.mark.parametrize(
    ("spec", "problem"),
    [
        ({"endpoint": "create", "afterApply": "close"}, "afterApply must be one of"),
        ({"endpoint": "create", "afterApply": "drop", "status": 500}, "takes no status"),
        ({"endpoint": "create", "afterApply": "drop", "refusal": True}, "takes no status"),
    ],
)
async def test_after_apply_faults_are_checked(
    client: httpx.AsyncClient, spec: dict[str, Any], problem: str
) -> None:
    response = await client.post("/__sim__/faults", json=spec)
    assert response.status_code == 400
    assert problem in response.json()["error"]


def _live_booking(live: httpx.Client) -> dict[str, str]:
    view = live.get("/appointments/getAppointmentView").json()
    found = live.get("/search/patients", params={"q": "a", "limit": 1}).json()
    room = str(view["appointmentRooms"][0]["id"])
    events = live.get(
        "/appointments/getCalendarEventData",
        params={"start": f"{DAY} 00:00:00", "end": f"{DAY} 23:59:59"},
    ).json()
    begins, ends = free_slot(events, room, DAY)
    return {
        "patient_id": str(found["results"]["suggested"]["objects"][0]["id"]),
        "room": room,
        "appointment_date": DAY,
        "time": begins,
        "time_end": ends,
    }


def _live_count(live: httpx.Client, fields: dict[str, str]) -> int:
    events = live.get(
        "/appointments/getCalendarEventData",
        params={"start": f"{DAY} 00:00:00", "end": f"{DAY} 23:59:59"},
    ).json()
    start = f"{DAY} {fields['time']}:00"
    return sum(
        1
        for e in events
        if e["start"] == start
        and e["resourceId"] == fields["room"]
        and str(e["patient_id"]) == fields["patient_id"]
    )


def test_a_dropped_answer_leaves_the_write_applied(live: httpx.Client) -> None:
    live_login(live)
    fields = _live_booking(live)
    fault = live.post(
        "/__sim__/faults", json={"endpoint": "create", "afterApply": "drop", "count": 1}
    )
    assert fault.status_code == 200
    with pytest.raises(httpx.TransportError):  # no answer at all: the connection was closed
        live.post("/appointments/create", files=multipart(fields))
    assert _live_count(live, fields) == 1  # ... yet the appointment was booked
    faults = live.get("/__sim__/faults").json()["faults"]
    assert (faults[0]["hits"], faults[0]["count"], faults[0]["afterApply"]) == (1, 0, "drop")
    stats = live.get("/__sim__/stats").json()["endpoints"]["create"]
    assert stats["statuses"] == {"0": 1}  # recorded as dropped
    # A blind second send is the double booking's first half: IDEXX refuses the overlap.
    again = live.post("/appointments/create", files=multipart(fields))
    assert again.status_code == 409
    assert _live_count(live, fields) == 1


def test_a_slow_drop_applies_before_the_client_gives_up(live: httpx.Client) -> None:
    live_login(live)
    fields = _live_booking(live)
    spec = {"endpoint": "create", "afterApply": "drop", "latencyMs": 1500, "count": 1}
    assert live.post("/__sim__/faults", json=spec).status_code == 200
    with pytest.raises(httpx.ReadTimeout):
        live.post("/appointments/create", files=multipart(fields), timeout=0.5)
    assert _live_count(live, fields) == 1  # applied although the client timed out
