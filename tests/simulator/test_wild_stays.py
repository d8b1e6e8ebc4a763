"""Multi-day stays: boarding and hospitalisation over four days, in every window they overlap."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import httpx

from tests.simulator.conftest import NOW, change_settings, live_json, live_login, live_week

STAY_TYPES = {"Boarding", "Hospitalisation"}


def wall(text: str) -> datetime:
    """A clinic wall-clock time of the feed (naive on purpose: the clinic's own clock)."""
    return datetime.fromisoformat(text)


def stays(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [e for e in events if e["type_description"] in STAY_TYPES]


def truth(live: httpx.Client, first: str, last: str) -> list[dict[str, Any]]:
    response = live.get("/__sim__/appointments", params={"start": first, "end": last})
    assert response.status_code == 200, response.text
    listed: list[dict[str, Any]] = response.json()
    return listed


def test_stays_add_to_the_world_and_change_nothing_else(live: httpx.Client) -> None:
    live_login(live)
    plain = live_week(live)
    assert stays(plain) == []
    assert stays(truth(live, "2026-01-20", "2026-01-26")) == []
    change_settings(live, multiDayStays=True)
    served = live_week(live)
    found = stays(served)
    assert len(found) >= 2
    assert [e for e in served if e not in found] == plain
    assert truth(live, "2026-01-20", "2026-01-26") == served
    for stay in found:
        start, end = wall(stay["start"]), wall(stay["end"])
        assert (start.hour, end.hour, (end.date() - start.date()).days) == (8, 17, 3)
        assert stay["consultation_id"] is None
        assert stay["patient_id"] is not None
        assert stay["client_id"] is not None
        assert stay["appointment_id"] >= 1_000_000  # the stays' own id range
        assert stay["id"] == stay["appointment_id"]
    ids = [e["appointment_id"] for e in served]
    assert len(ids) == len(set(ids))


def test_a_stay_is_in_every_window_it_overlaps(live: httpx.Client) -> None:
    live_login(live)
    change_settings(live, multiDayStays=True)
    stay = stays(live_week(live, "2026-01-10", "2026-01-16"))[0]
    first = wall(stay["start"]).date()
    for offset in range(4):  # the first day, the days between, the last day
        day = (first + timedelta(days=offset)).isoformat()
        assert stay in live_week(live, day, day), day
    after = (first + timedelta(days=4)).isoformat()
    assert stay not in live_week(live, after, after)
    details = live_json(live, "/appointments/getAppointment", id=str(stay["appointment_id"]))
    assert details["appointment"]["appointmentType"]["name"] == stay["type_description"]


def test_a_stay_is_in_progress_between_its_start_and_its_end(live: httpx.Client) -> None:
    live_login(live)
    change_settings(live, multiDayStays=True)
    now = wall(NOW)
    statuses = {
        (e["start"], e["end"]): e["current_status"]
        for e in stays(live_week(live, "2026-01-15", "2026-01-30"))
    }
    for (start, end), status in statuses.items():
        begins, ends = wall(start), wall(end)
        expected = "Scheduled" if begins > now else "In Progress" if ends > now else "Finalized"
        assert status == expected, (start, end)
    assert set(statuses.values()) == {"Scheduled", "In Progress", "Finalized"}


def test_a_four_day_stay_added_through_the_control_api(live: httpx.Client) -> None:
    live_login(live)  # stays off: an added long appointment is found all the same
    added = live.post(
        "/__sim__/appointments",
        json={"start": "2026-01-19 08:00:00", "end": "2026-01-22 17:00:00", "typeId": 1009},
    )
    assert added.status_code == 201, added.text
    event = added.json()["appointment"]
    assert (event["type_description"], event["end"]) == ("Boarding", "2026-01-22 17:00:00")
    for day in ("2026-01-19", "2026-01-21", "2026-01-22"):
        ids = [e["appointment_id"] for e in live_week(live, day, day)]
        assert event["appointment_id"] in ids, day
    assert event["appointment_id"] not in [
        e["appointment_id"] for e in live_week(live, "2026-01-23", "2026-01-23")
    ]
