"""Booking write-back end to end: the real API over HTTP, real Chromium, the simulator.

The original's Postman requests for the four appointment routes, with ids taken from a
search first; a create whose answer is lost after the simulator applied it, repeated five
times with its key (one appointment); twenty creates for one slot with different keys
(one appointment, nineteen 409s with alternatives); a reschedule whose cancel fails (the
new appointment and the old one both booked, said so, the repeat cancels the old one).
One simulator and one server per database (module scope), the standard profile.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import migrated_database
from tests.e2e.sync_stack import TODAY, Stack, StackOptions, running_stack, wall_to_utc

pytestmark = pytest.mark.browser

DAY = TODAY + timedelta(days=1)  # Thursday: the clinic is open, the simulator has visits
CREATE, CANCEL = "/api/appointments/create", "/api/appointments/cancel"
RESCHEDULE, SEARCH = "/api/appointments/reschedule", "/api/appointments/search-patient"


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """The simulator and the service on a migrated database of each kind."""
    directory = tmp_path_factory.mktemp("booking-e2e")
    with migrated_database(request.param, directory, "booking") as url:
        yield from running_stack(url, StackOptions())


@pytest.fixture(scope="module")
def slots(stack: Stack) -> list[dict[str, Any]]:
    """Free half-hour slots of DAY (from availability, which reads the day first)."""
    answer = stack.api.get("/api/availability", params={"date": str(DAY), "duration": 30})
    assert answer.status_code == 200, answer.text
    free = answer.json()["days"][0]["slots"]
    assert len(free) >= 8, free
    return list(free[::2])  # every other one: no two used slots overlap


def _patient(stack: Stack, which: int = 0) -> dict[str, Any]:
    """A patient found by the search route (a name from the simulator's calendar)."""
    visits = [v for v in stack.control.appointments(TODAY, DAY) if v.get("patient_name")]
    name = visits[which]["patient_name"]
    found = stack.api.post(SEARCH, json={"query": name, "limit": 10})
    assert found.status_code == 200, found.text
    assert found.json()["totalCount"] >= 1
    return dict(found.json()["patients"][0])


def _visit(patient: dict[str, Any], slot: dict[str, Any], **more: Any) -> dict[str, Any]:
    """The original's create body for a patient at a free slot."""
    start, end = slot["start"], slot["end"]
    return {
        "patientId": patient["patientId"],
        "clientId": patient.get("clientId"),
        "date": start[:10],
        "startTime": start[11:16],
        "endTime": end[11:16],
        "reason": "Annual exam",
        "roomId": slot["resourceIds"][0],
        **more,
    }


def _live_at(stack: Stack, patient_id: str, start: str) -> list[dict[str, Any]]:
    """The simulator's live appointments of the patient starting at `start`."""
    instant = wall_to_utc(start[:19].replace("T", " "))
    return [
        e
        for e in stack.control.appointments(DAY, DAY)
        if str(e.get("patient_id")) == patient_id
        and wall_to_utc(e["start"]) == instant
        and str(e.get("current_status", "")).lower() != "cancelled"
    ]


def _hits(stack: Stack) -> int:
    """How many requests the simulator's faults struck."""
    return sum(fault["hits"] for fault in stack.control.http.get("/faults").json()["faults"])


def _post(stack: Stack, path: str, body: dict[str, Any], key: str | None) -> httpx.Response:
    headers = {} if key is None else {"Idempotency-Key": key}
    return stack.api.post(path, json=body, headers=headers)


def test_the_originals_requests_for_the_four_routes(
    stack: Stack, slots: list[dict[str, Any]]
) -> None:
    patient = _patient(stack)
    made = _post(stack, CREATE, _visit(patient, slots[0]), "postman-create")
    assert made.status_code == 200, made.text
    booked = made.json()
    assert (booked["success"], booked["confirmed"]) == (True, True)
    appointment = booked["appointment"]
    assert appointment["patientId"] == patient["patientId"]
    assert appointment["start"] == slots[0]["start"]
    assert _live_at(stack, patient["patientId"], slots[0]["start"])

    moved = _post(
        stack,
        RESCHEDULE,
        {**_visit(patient, slots[1]), "cancelAppointmentId": appointment["id"]},
        "postman-reschedule",
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["oldAppointmentCancelled"] is True
    new_id = moved.json()["appointment"]["id"]
    assert not _live_at(stack, patient["patientId"], slots[0]["start"])

    cancelled = _post(stack, CANCEL, {"appointmentId": new_id, "reason": "Owner called"}, None)
    assert cancelled.status_code == 200, cancelled.text
    assert str(cancelled.json()["appointment"]["status"]).lower() == "cancelled"
    assert not _live_at(stack, patient["patientId"], slots[1]["start"])


def test_a_lost_answer_retried_five_times_books_once(
    stack: Stack, slots: list[dict[str, Any]]
) -> None:
    patient = _patient(stack, 1)
    body = _visit(patient, slots[2])
    missing = _post(stack, CREATE, body, None)
    assert (missing.status_code, missing.json()["code"]) == (400, "idempotency_key_required")
    stack.control.post("/faults", {"endpoint": "create", "afterApply": "drop", "count": 1})
    try:
        answers = [_post(stack, CREATE, body, "lost-answer") for _ in range(5)]
        assert _hits(stack) == 1  # the create was applied and its answer dropped
    finally:
        stack.control.post("/faults", {"clear": True})

    assert [a.status_code for a in answers] == [200] * 5, [a.text for a in answers]
    assert len({a.json()["appointment"]["id"] for a in answers}) == 1
    assert len(_live_at(stack, patient["patientId"], slots[2]["start"])) == 1


def test_twenty_creates_for_one_slot_book_once(stack: Stack, slots: list[dict[str, Any]]) -> None:
    patient = _patient(stack, 2)
    body = _visit(patient, slots[3])
    headers = dict(stack.api.headers)

    def create(n: int) -> httpx.Response:
        with httpx.Client(base_url=str(stack.api.base_url), timeout=120) as http:
            return http.post(CREATE, json=body, headers={**headers, "Idempotency-Key": f"c{n}"})

    with ThreadPoolExecutor(max_workers=20) as pool:
        answers = list(pool.map(create, range(20)))

    statuses = sorted(a.status_code for a in answers)
    assert statuses == [200] + [409] * 19, [a.text for a in answers if a.status_code != 409]
    for refused in (a for a in answers if a.status_code == 409):
        assert refused.json()["code"] == "slot_unavailable"
        assert len(refused.json()["alternatives"]) == 3
    assert len(_live_at(stack, patient["patientId"], slots[3]["start"])) == 1


def test_a_reschedule_whose_cancel_fails_keeps_both_then_the_repeat_cancels(
    stack: Stack, slots: list[dict[str, Any]]
) -> None:
    patient = _patient(stack, 3)
    old = _post(stack, CREATE, _visit(patient, slots[4]), "move-old")
    assert old.status_code == 200, old.text
    old_id = old.json()["appointment"]["id"]
    move = {**_visit(patient, slots[5]), "cancelAppointmentId": old_id}
    stack.control.post("/faults", {"endpoint": "delete", "status": 503, "count": 1})
    try:
        partial = _post(stack, RESCHEDULE, move, "move-1")
        assert _hits(stack) == 1  # the cancel met the fault
    finally:
        stack.control.post("/faults", {"clear": True})

    assert partial.status_code == 207, partial.text
    said = partial.json()
    assert (said["success"], said["oldAppointmentCancelled"]) == (False, False)
    assert _live_at(stack, patient["patientId"], slots[4]["start"])  # the old one is there
    assert _live_at(stack, patient["patientId"], slots[5]["start"])  # and the new one

    done = _post(stack, RESCHEDULE, move, "move-1")

    assert done.status_code == 200, done.text
    assert done.json()["oldAppointmentCancelled"] is True
    assert done.json()["appointment"]["id"] == said["appointment"]["id"]
    assert not _live_at(stack, patient["patientId"], slots[4]["start"])
    assert len(_live_at(stack, patient["patientId"], slots[5]["start"])) == 1
