"""Each control call changes exactly what it says, and the IDEXX endpoints see it."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.simulator.conftest import client_for, login, make_app, set_clock, week

DAY = "2026-01-27"  # a future day of the frozen clock


async def sim_day(client: httpx.AsyncClient, day: str = DAY) -> list[dict[str, Any]]:
    response = await client.get("/__sim__/appointments", params={"start": day, "end": day})
    assert response.status_code == 200, response.text
    return response.json()


def first_appointment(events: list[dict[str, Any]]) -> dict[str, Any]:
    return next(e for e in events if not e["is_block"] and not e["is_roster"])


def duration(event: dict[str, Any]) -> timedelta:
    return datetime.fromisoformat(event["end"]) - datetime.fromisoformat(event["start"])


def without(events: list[dict[str, Any]], event_id: int) -> list[dict[str, Any]]:
    return [e for e in events if e["id"] != event_id]


async def test_control_listing_is_the_calendar_feed(client: httpx.AsyncClient) -> None:
    assert await sim_day(client) == await week(client, DAY, DAY)


async def test_cancel_keeps_the_event_with_a_cancelled_status(client: httpx.AsyncClient) -> None:
    before = await sim_day(client)
    target = first_appointment(before)
    response = await client.post(f"/__sim__/appointments/{target['id']}/cancel", json={})
    assert response.json()["appointment"]["current_status"] == "Cancelled"
    after = await sim_day(client)
    changed = next(e for e in after if e["id"] == target["id"])
    assert changed["current_status"] == changed["status_label"] == "Cancelled"
    assert without(after, target["id"]) == without(before, target["id"])
    details = await client.get("/appointments/getAppointment", params={"id": target["id"]})
    assert details.json()["appointment"]["deleted"] is True
    assert details.json()["appointment"]["cancelledReason"] == "Cancelled via phone"


async def test_cancelled_can_be_hidden_from_the_feed(client: httpx.AsyncClient) -> None:
    target = first_appointment(await sim_day(client))
    await client.post(f"/__sim__/appointments/{target['id']}/cancel", json={"reason": "x"})
    await client.post("/__sim__/settings", json={"cancelledInFeed": False})
    feed = await week(client, DAY, DAY)
    assert target["id"] not in {e["id"] for e in feed}
    assert all(e["current_status"] != "Cancelled" for e in feed)


async def test_delete_removes_the_event_everywhere(client: httpx.AsyncClient) -> None:
    before = await sim_day(client)
    target = first_appointment(before)
    await client.post(f"/__sim__/appointments/{target['id']}/delete")
    assert await sim_day(client) == without(before, target["id"])
    details = await client.get("/appointments/getAppointment", params={"id": target["id"]})
    assert details.status_code == 404
    again = await client.post(f"/__sim__/appointments/{target['id']}/delete")
    assert again.status_code == 404


async def test_restore_brings_a_deleted_appointment_back_as_it_was(
    client: httpx.AsyncClient,
) -> None:
    before = await sim_day(client)
    target = first_appointment(before)
    refused = await client.post(f"/__sim__/appointments/{target['id']}/restore")
    assert refused.status_code == 400  # not deleted
    await client.post(f"/__sim__/appointments/{target['id']}/delete")
    restored = await client.post(f"/__sim__/appointments/{target['id']}/restore")
    assert restored.json()["appointment"]["id"] == target["id"]
    volatile = {"last_updated_at", "last_updated_by"}
    after = await sim_day(client)
    assert [{k: v for k, v in e.items() if k not in volatile} for e in after] == [
        {k: v for k, v in e.items() if k not in volatile} for e in before
    ]
    unknown = await client.post("/__sim__/appointments/999999999/restore")
    assert unknown.status_code == 404


async def test_move_changes_only_the_time(client: httpx.AsyncClient) -> None:
    before = await sim_day(client)
    target = first_appointment(before)
    response = await client.post(
        f"/__sim__/appointments/{target['id']}/move", json={"start": "2026-01-28 10:00:00"}
    )
    moved = response.json()["appointment"]
    assert moved["id"] == target["id"]
    assert moved["start"] == "2026-01-28 10:00:00"
    volatile = {"start", "end", "last_updated_at", "last_updated_by"}
    assert {k: v for k, v in moved.items() if k not in volatile} == {
        k: v for k, v in target.items() if k not in volatile
    }
    assert duration(moved) == duration(target)
    assert await sim_day(client) == without(before, target["id"])
    assert target["id"] in {e["id"] for e in await sim_day(client, "2026-01-28")}


async def test_add_appears_in_the_feed(client: httpx.AsyncClient) -> None:
    before = await sim_day(client)
    response = await client.post(
        "/__sim__/appointments",
        json={"start": f"{DAY} 09:30:00", "durationMinutes": 30, "reason": "NEW PATIENT EXAM"},
    )
    assert response.status_code == 201
    added = response.json()["appointment"]
    assert added["end"] == f"{DAY} 10:00:00"
    assert added["current_status"] == "Scheduled"
    after = await sim_day(client)
    assert without(after, added["id"]) == before
    assert added["id"] not in {e["id"] for e in before}


async def test_late_notes_show_up_in_page_data(client: httpx.AsyncClient) -> None:
    events = await week(client, "2026-01-20", "2026-01-20")
    consultation = next(e["consultation_id"] for e in events if e["consultation_id"])
    notes = "<p>Written the next morning.</p>"
    response = await client.post(
        f"/__sim__/consultations/{consultation}/notes", json={"notes": notes}
    )
    assert response.json()["ok"] is True
    data = (await client.get(f"/consultations/{consultation}/page-data")).json()
    assert data["consultationNotes"]["notes"] == notes
    assert data["consultation"]["status"] == "completed"
    missing = await client.post("/__sim__/consultations/5/notes", json={"notes": "x"})
    assert missing.status_code == 404


async def test_clock_set_advance_and_real(client: httpx.AsyncClient) -> None:
    clock = (await client.post("/__sim__/clock", json={"now": "2026-02-01 08:00:00"})).json()
    assert clock["now"] == "2026-02-01 08:00:00"
    assert clock["frozen"] is True
    clock = (await client.post("/__sim__/clock", json={"advanceMinutes": 90})).json()
    assert clock["now"] == "2026-02-01 09:30:00"
    assert (await client.get("/__sim__/clock")).json()["now"] == "2026-02-01 09:30:00"
    real = (await client.post("/__sim__/clock", json={"real": True})).json()
    assert real["frozen"] is False
    assert real["offsetMinutes"] == 0
    bad = await client.post("/__sim__/clock", json={"now": "tomorrow"})
    assert bad.status_code == 400


async def test_advancing_the_clock_turns_future_into_past(client: httpx.AsyncClient) -> None:
    target = first_appointment(await sim_day(client))
    assert target["consultation_id"] is None
    assert target["current_status"] == "Scheduled"
    await client.post("/__sim__/clock", json={"now": "2026-01-28 12:00:00"})
    await login(client)
    later = next(e for e in await sim_day(client) if e["id"] == target["id"])
    assert later["current_status"] in {"Finalized", "No Show"}
    assert (later["consultation_id"] is not None) == (later["current_status"] == "Finalized")


async def test_reset_restores_the_generated_world(client: httpx.AsyncClient) -> None:
    before = await sim_day(client)
    target = first_appointment(before)
    await client.post(f"/__sim__/appointments/{target['id']}/delete")
    await client.post("/__sim__/faults", json={"endpoint": "search", "status": 500})
    await client.post("/__sim__/settings", json={"calendarEnvelope": "events"})
    assert (await client.post("/__sim__/reset")).json() == {"ok": True}
    await client.post("/__sim__/clock", json={"now": "2026-01-22 18:00:00"})
    assert await sim_day(client) == before
    assert (await client.get("/__sim__/faults")).json() == {"faults": []}
    assert (await client.get("/__sim__/settings")).json()["calendarEnvelope"] == "array"
    assert (await client.get("/search/patients", params={"q": "a"})).status_code == 200


async def test_stats_count_requests_statuses_and_latency(client: httpx.AsyncClient) -> None:
    await client.post("/__sim__/stats/reset")
    await week(client)
    await client.get("/consultations/1/page-data")
    stats = (await client.get("/__sim__/stats")).json()
    assert stats["endpoints"]["calendar"]["requests"] == 1
    assert stats["endpoints"]["calendar"]["statuses"] == {"200": 1}
    assert stats["endpoints"]["page-data"]["statuses"] == {"404": 1}
    assert stats["endpoints"]["calendar"]["meanMs"] > 0
    assert stats["totalRequests"] == 2
    assert stats["logins"] == 0


async def test_overview_lists_clinics_and_settings(client: httpx.AsyncClient) -> None:
    overview = (await client.get("/__sim__")).json()
    assert overview["seed"] == 7
    assert overview["clinics"][0]["companyId"] == "1001"
    assert overview["sessions"] == 1


async def test_unknown_clinic_and_bad_bodies(client: httpx.AsyncClient) -> None:
    response = await client.get(
        "/__sim__/appointments", params={"start": DAY, "end": DAY, "clinic": "42"}
    )
    assert response.status_code == 404
    assert (await client.post("/__sim__/appointments", json={"start": "x"})).status_code == 400
    assert (await client.post("/__sim__/appointments/1/cancel", content=b"[1]")).status_code == 400


async def test_clear_day_empties_only_that_day(client: httpx.AsyncClient) -> None:
    next_day = await sim_day(client, "2026-01-28")
    response = await client.post(f"/__sim__/days/{DAY}/clear")
    assert response.json()["deleted"] > 35
    assert await week(client, DAY, DAY) == []
    assert await sim_day(client, "2026-01-28") == next_day


async def test_page_data_without_consultation_notes(client: httpx.AsyncClient) -> None:
    events = await week(client, "2026-01-20", "2026-01-20")
    consultation = next(e["consultation_id"] for e in events if e["consultation_id"])
    path = f"/consultations/{consultation}/page-data"
    full = (await client.get(path)).json()
    await client.post("/__sim__/settings", json={"omitConsultationNotes": True})
    trimmed = (await client.get(path)).json()
    assert "consultationNotes" not in trimmed
    assert trimmed == {k: v for k, v in full.items() if k != "consultationNotes"}


async def test_notes_change_only_their_consultation(client: httpx.AsyncClient) -> None:
    events = await week(client, "2026-01-20", "2026-01-20")
    first, second = [e["consultation_id"] for e in events if e["consultation_id"]][:2]
    before = (await client.get(f"/consultations/{second}/page-data")).json()
    await client.post(f"/__sim__/consultations/{first}/notes", json={"notes": "<p>x</p>"})
    assert (await client.get(f"/consultations/{second}/page-data")).json() == before


async def test_session_expiry_settings(client: httpx.AsyncClient) -> None:
    await client.post("/__sim__/settings", json={"idleMinutes": 5})
    await client.post("/__sim__/clock", json={"advanceMinutes": 6})
    assert (await client.get("/")).status_code == 302
    await client.post("/__sim__/settings", json={"idleMinutes": 600, "absoluteHours": 1})
    await login(client)
    await client.post("/__sim__/clock", json={"advanceMinutes": 61})
    assert (await client.get("/")).status_code == 302


async def test_running_clock_keeps_ticking(client: httpx.AsyncClient) -> None:
    clock = (
        await client.post("/__sim__/clock", json={"now": "2026-01-22 18:00:00", "frozen": False})
    ).json()
    assert clock["frozen"] is False
    assert clock["now"].startswith("2026-01-22 18:00:0")


async def test_control_calls_address_other_clinics() -> None:
    app = make_app(clinics=2)
    async with client_for(app) as control:
        await set_clock(control)
        added = await control.post(
            "/__sim__/appointments", json={"clinic": "1002", "start": f"{DAY} 10:00:00"}
        )
        new_id = added.json()["appointment"]["id"]
        second = await control.get(
            "/__sim__/appointments", params={"start": DAY, "end": DAY, "clinic": "1002"}
        )
        first = await control.get("/__sim__/appointments", params={"start": DAY, "end": DAY})
        assert new_id in {e["id"] for e in second.json()}
        assert new_id not in {e["id"] for e in first.json()}
        await login(control, company_id="1001")
        details = await control.get("/appointments/getAppointment", params={"id": new_id})
        assert details.status_code == 404  # another clinic's appointment


async def test_client_change_shows_the_new_phone_and_email_everywhere(
    client: httpx.AsyncClient,
) -> None:
    target = first_appointment(await sim_day(client))
    response = await client.post(
        f"/__sim__/clients/{target['client_id']}",
        json={"phone": "650-555-0199", "email": "new.owner@example.com"},
    )
    assert response.status_code == 200, response.text
    for event in await sim_day(client):
        if event["client_id"] == target["client_id"]:
            assert event["phone_number"] == "650-555-0199"
            assert event["email"] == "new.owner@example.com"
    missing = await client.post("/__sim__/clients/999999", json={"phone": "1"})
    assert missing.status_code == 404
    assert (
        await client.post(f"/__sim__/clients/{target['client_id']}", json={})
    ).status_code == 400
