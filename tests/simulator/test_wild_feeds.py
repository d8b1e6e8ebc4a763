"""Feed traits of the real site: JSON labelled HTML, string and unequal ids, numeric flags,
statuses in any case, names in title case, and a 200 refusal of the calendar."""

from __future__ import annotations

import json
from typing import Any

import httpx

from tests.simulator.conftest import change_settings, live_json, live_login, live_week

FLAGS = (
    "is_block",
    "is_roster",
    "recurring",
    "darkFont",
    "is_unmatched",
    "audit_incomplete",
    "is_valid_mobile_phone",
)
IDS = ("id", "appointment_id", "consultation_id", "patient_id", "client_id", "appointment_room_id")
WEEK = {"start": "2026-01-20 00:00:00", "end": "2026-01-26 23:59:59"}


def appointments(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["patient_id"] is not None]


def consultation_of(events: list[dict[str, Any]]) -> Any:
    return next(e["consultation_id"] for e in events if e["consultation_id"])


def test_json_labelled_as_html_keeps_its_body(live: httpx.Client) -> None:
    live_login(live)
    events = live_week(live)
    consultation, patient = consultation_of(events), appointments(events)[0]
    paths = {
        "/appointments/getCalendarEventData": WEEK,
        f"/consultations/{consultation}/page-data": {},
        "/search/patients": {"q": str(patient["patient_id"])},  # never a name: URLs are logged
        "/appointments/getAppointment": {"id": str(patient["appointment_id"])},
        "/consultations/1/page-data": {},  # a 404 JSON is JSON too
    }
    plain = {path: live.get(path, params=params) for path, params in paths.items()}
    change_settings(live, jsonAsHtml=True)
    for path, params in paths.items():
        labelled = live.get(path, params=params)
        assert labelled.headers["content-type"] == "text/html; charset=utf-8", path
        assert plain[path].headers["content-type"] == "application/json", path
        assert labelled.status_code == plain[path].status_code, path
        assert json.loads(labelled.text) == plain[path].json(), path
    assert live.get("/__sim__/settings").headers["content-type"] == "application/json"
    assert live.get("/login").headers["content-type"].startswith("text/html")


def test_string_ids_in_the_feed_and_page_data(live: httpx.Client) -> None:
    live_login(live)
    plain = live_week(live)
    change_settings(live, stringIds=True)
    served = live_week(live)
    assert len(served) == len(plain)
    for before, after in zip(plain, served, strict=True):
        for key in IDS:
            expected = None if before[key] is None else str(before[key])
            assert after[key] == expected, key
    assert any(e["consultation_id"] is None for e in served)  # null stays null
    page = live_json(live, f"/consultations/{consultation_of(plain)}/page-data")
    assert all(isinstance(page[key]["id"], str) for key in ("consultation", "patient", "client"))
    assert page["consultation"]["id"] == str(consultation_of(plain))


def test_unequal_event_and_appointment_ids(live: httpx.Client) -> None:
    live_login(live)
    plain = live_week(live)
    change_settings(live, unequalIds=True)
    served = live_week(live)
    for before, after in zip(plain, served, strict=True):
        assert after["appointment_id"] == before["appointment_id"]
        assert after["id"] == f"ev-{before['appointment_id']}" != after["appointment_id"]
    change_settings(live, stringIds=True)
    assert all(e["id"] == f"ev-{e['appointment_id']}" for e in live_week(live))


def test_flags_as_numbers_and_as_strings(live: httpx.Client) -> None:
    live_login(live)
    plain = live_week(live)
    change_settings(live, flagsAsNumbers=True)
    served = live_week(live)
    kinds = set()
    for before, after in zip(plain, served, strict=True):
        for key in FLAGS:
            if key not in before:
                continue
            number = int(before[key])
            even = before["appointment_id"] % 2 == 0
            assert after[key] == (number if even else str(number)), key
            kinds.add((type(after[key]), after[key]))
    assert {(int, 0), (int, 1), (str, "0"), (str, "1")} <= kinds


def test_lower_case_statuses_and_not_arrived_later(live: httpx.Client) -> None:
    live_login(live)
    plain = live_week(live)
    change_settings(live, lowerCaseStatuses=True)
    served = live_week(live)
    seen = set()
    for before, after in zip(plain, served, strict=True):
        status, shown = before["current_status"], after["current_status"]
        assert after["status_label"] == shown
        if status == "Scheduled":
            assert shown == "not arrived"
        elif status == "Finalized" and before["appointment_id"] % 2 == 0:
            assert shown == "FINALIZED"
        else:
            assert shown == (status.lower() if status else None)
        seen.add(shown)
    assert {"not arrived", "finalized", "FINALIZED", "no show"} <= seen
    assert "Scheduled" not in seen
    assert "Finalized" not in seen
    truth = live.get("/__sim__/appointments", params={"start": "2026-01-20", "end": "2026-01-26"})
    assert [e["current_status"] for e in truth.json()] == [e["current_status"] for e in served]


def test_names_in_title_case_everywhere(live: httpx.Client) -> None:
    live_login(live)
    plain = appointments(live_week(live))
    consultation = consultation_of(plain)
    page_before = live_json(live, f"/consultations/{consultation}/page-data")
    query = str(plain[0]["patient_id"])  # never a name: URLs are logged
    search_before = live_json(live, "/search/patients", q=query)
    change_settings(live, mixedCaseNames=True)
    served = appointments(live_week(live))
    for before, after in zip(plain, served, strict=True):
        for key in ("patient_name", "first_name", "last_name"):
            assert after[key] == before[key].title() != before[key], key
        names = after["patient_name"], after["last_name"], after["first_name"]
        assert after["title"] == "{}; {}, {}".format(*names)
    page = live_json(live, f"/consultations/{consultation}/page-data")
    assert page["patient"]["name"] == page_before["patient"]["name"].title()
    assert page["client"]["lastName"] == page_before["client"]["lastName"].title()
    search = live_json(live, "/search/patients", q=query)["results"]["suggested"]["objects"]
    found_before = search_before["results"]["suggested"]["objects"]
    assert [p["id"] for p in search] == [p["id"] for p in found_before]
    assert [p["name"] for p in search] == [p["name"].title() for p in found_before]
    assert search[0]["client"]["firstName"] == found_before[0]["client"]["firstName"].title()


def test_a_calendar_refusal_fault_answers_200_success_false(live: httpx.Client) -> None:
    live_login(live)
    response = live.post(
        "/__sim__/faults", json={"endpoint": "calendar", "refusal": True, "count": 1, "after": 1}
    )
    assert response.status_code == 200, response.text
    assert isinstance(live_week(live), list)  # let through (after: 1)
    refused = live.get("/appointments/getCalendarEventData", params=WEEK)
    assert refused.status_code == 200
    assert refused.json() == {"success": False, "message": "Unable to load events"}
    assert isinstance(live_week(live), list)  # count: 1, then the feed is back
    fault = live.get("/__sim__/faults").json()["faults"][0]
    assert (fault["refusal"], fault["hits"], fault["count"]) == (True, 1, 0)
    assert live.post("/__sim__/faults", json={"refusal": "yes"}).status_code == 400
