"""Page-data traits of the real site: the note only in `dischargeSummary`, notes as a list,
and a 200 refusal while a consultation is not finalised."""

from __future__ import annotations

from typing import Any

import httpx

from tests.simulator.conftest import change_settings, live_json, live_login, live_week


def consultations(live: httpx.Client) -> dict[int, Any]:
    """Consultations of today and the day before, by id, with the standard page-data."""
    events = live_week(live, "2026-01-21", "2026-01-22")
    ids = [e["consultation_id"] for e in events if e["consultation_id"]]
    return {c: live_json(live, f"/consultations/{c}/page-data") for c in ids[-50:]}


def finished(pages: dict[int, Any], remainder: int) -> dict[int, Any]:
    return {
        c: page
        for c, page in pages.items()
        if c % 5 == remainder and page["consultation"]["status"] == "completed"
    }


def test_some_notes_are_only_in_the_discharge_summary(live: httpx.Client) -> None:
    live_login(live)
    pages = consultations(live)
    chosen = finished(pages, 0)
    assert len(chosen) >= 5
    change_settings(live, dischargeOnlyNotes=True)
    for consultation, before in chosen.items():
        page = live_json(live, f"/consultations/{consultation}/page-data")
        assert "consultationNotes" not in page
        note = before["consultationNotes"]["notes"]
        assert page["consultation"]["dischargeSummary"] == note != ""
    others = [c for c in pages if c % 5 != 0][:10]
    for consultation in others:
        page = live_json(live, f"/consultations/{consultation}/page-data")
        assert page == pages[consultation]  # only one consultation in five changes


def test_some_notes_are_a_list_of_two_note_objects(live: httpx.Client) -> None:
    live_login(live)
    chosen = finished(consultations(live), 1)
    assert len(chosen) >= 5
    change_settings(live, listNotes=True)
    for consultation, before in chosen.items():
        notes = live_json(live, f"/consultations/{consultation}/page-data")["consultationNotes"]
        assert isinstance(notes, list)
        assert len(notes) == 2
        assert "".join(n["notes"] for n in notes) == before["consultationNotes"]["notes"]
        assert all(n["notes"].startswith("<p>") for n in notes)
        assert [n["id"] for n in notes] == [consultation * 10, consultation * 10 + 1]
        assert notes[0]["createdAt"] < notes[1]["createdAt"]


def test_an_unfinished_consultation_is_refused_with_200(live: httpx.Client) -> None:
    live_login(live)
    pages = consultations(live)
    unfinished = [c for c, p in pages.items() if p["consultation"]["status"] == "in_progress"]
    done = [c for c, p in pages.items() if p["consultation"]["status"] == "completed"]
    assert unfinished
    assert done
    change_settings(live, refuseUnfinished=True)
    for consultation in unfinished:
        refused = live.get(f"/consultations/{consultation}/page-data")
        assert refused.status_code == 200
        assert refused.json() == {"success": False, "message": "Consultation is not finalised"}
    assert live_json(live, f"/consultations/{done[0]}/page-data") == pages[done[0]]
    written = unfinished[0]
    live.post(f"/__sim__/consultations/{written}/notes", json={"notes": "<p>Done.</p>"})
    page = live_json(live, f"/consultations/{written}/page-data")
    assert page["consultationNotes"]["notes"] == "<p>Done.</p>"  # fetched on the next run
