"""Corruption routes: the IDEXX answers turn malformed on demand; the control listing does not."""

from __future__ import annotations

from typing import Any

import httpx

from tests.simulator.conftest import week

DAY = "2026-01-20"  # a past day of the frozen clock: consultations exist


async def appointments_of(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    events = await week(client, DAY, DAY)
    return [e for e in events if not e["is_block"] and not e["is_roster"]]


async def corrupt(client: httpx.AsyncClient, path: str, body: dict[str, Any]) -> Any:
    response = await client.post(f"/__sim__/{path}/corrupt", json=body)
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_field_is_set_to_any_json_or_dropped(client: httpx.AsyncClient) -> None:
    first, second, *_ = await appointments_of(client)
    await corrupt(client, f"appointments/{first['id']}", {"field": "start", "value": [1, 2]})
    await corrupt(client, f"appointments/{second['id']}", {"field": "start"})
    served = {e["id"]: e for e in await week(client, DAY, DAY)}
    assert served[first["id"]]["start"] == [1, 2]
    assert "start" not in served[second["id"]]
    assert {k: v for k, v in served[first["id"]].items() if k != "start"} == {
        k: v for k, v in first.items() if k != "start"
    }
    truth = (await client.get("/__sim__/appointments", params={"start": DAY, "end": DAY})).json()
    assert next(e for e in truth if e["id"] == first["id"]) == first  # the control API: truth


async def test_duplicates_repeat_the_event_with_optional_changes(client: httpx.AsyncClient) -> None:
    first, second, *_ = await appointments_of(client)
    await corrupt(client, f"appointments/{first['id']}", {"duplicate": True})
    await corrupt(
        client, f"appointments/{second['id']}", {"duplicate": True, "set": {"reason": "Other"}}
    )
    served = [e for e in await week(client, DAY, DAY) if e["id"] in (first["id"], second["id"])]
    assert served == [first, first, second, {**second, "reason": "Other"}]


async def test_replace_drop_several_and_clear(client: httpx.AsyncClient) -> None:
    first, second, *_ = await appointments_of(client)
    await corrupt(client, f"appointments/{first['id']}", {"drop": ["id", "appointment_id"]})
    await corrupt(client, f"appointments/{second['id']}", {"replace": "not an event"})
    served = await week(client, DAY, DAY)
    assert "not an event" in served
    assert not any(isinstance(e, dict) and e.get("id") == first["id"] for e in served)
    listing = (await client.get("/__sim__/corruptions")).json()
    assert set(listing["appointments"]) == {str(first["id"]), str(second["id"])}
    await corrupt(client, f"appointments/{first['id']}", {"clear": True})
    assert await week(client, DAY, DAY) != served
    response = await client.post("/__sim__/corruptions/clear")
    assert response.status_code == 200
    assert [e for e in await week(client, DAY, DAY) if e["id"] == second["id"]] == [second]


async def test_page_data_fields_and_huge_notes(client: httpx.AsyncClient) -> None:
    consultation = next(e for e in await appointments_of(client) if e["consultation_id"])
    cid = consultation["consultation_id"]
    before = (await client.get(f"/consultations/{cid}/page-data")).json()
    await corrupt(client, f"consultations/{cid}", {"field": "consultation.status", "value": 7})
    await corrupt(client, f"consultations/{cid}", {"notesBytes": 2_000_000})
    response = await client.get(f"/consultations/{cid}/page-data")
    data = response.json()
    assert data["consultation"]["status"] == 7
    assert len(data["consultationNotes"]["notes"].encode()) == 2_000_000
    assert data["patient"] == before["patient"]
    shown = (await client.get("/__sim__/corruptions")).json()["consultations"][str(cid)]
    assert shown["changes"]["set"]["consultationNotes.notes"] == "<2000000 bytes>"
    await corrupt(client, f"consultations/{cid}", {"field": "consultation"})
    assert "consultation" not in (await client.get(f"/consultations/{cid}/page-data")).json()
    await client.post("/__sim__/reset")
    await client.post("/__sim__/clock", json={"now": "2026-01-22 18:00:00"})
    assert (await client.get(f"/consultations/{cid}/page-data")).json() == before


async def test_refusals(client: httpx.AsyncClient) -> None:
    first = (await appointments_of(client))[0]
    for path, body, status in [
        (f"appointments/{first['id']}", {}, 400),
        ("appointments/1", {"field": "start"}, 404),
        ("consultations/1", {"field": "consultation"}, 404),
        (f"consultations/{first['consultation_id']}", {"notesBytes": "big"}, 400),
        (f"appointments/{first['id']}", {"field": ""}, 400),
    ]:
        response = await client.post(f"/__sim__/{path}/corrupt", json=body)
        assert response.status_code == status, (path, body, response.text)
        assert response.json()["ok"] is False
