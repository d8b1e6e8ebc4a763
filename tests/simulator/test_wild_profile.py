"""The wild profile: every trait at once, switchable, and the same world as the standard one."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from pims_sync.simulator.config import WILD_TRAITS, SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator
from tests.simulator.conftest import NOW, XHR_HEADERS, change_settings, live_json, live_login

TRAITS = {
    "loginFormDelayMs": 1500,
    "loginCsrf": True,
    "writeCsrf": True,
    "loginRedirectHops": 3,
    "landingSearchBox": True,
    "jsonAsHtml": True,
    "stringIds": True,
    "unequalIds": True,
    "flagsAsNumbers": True,
    "lowerCaseStatuses": True,
    "mixedCaseNames": True,
    "multiDayStays": True,
    "dischargeOnlyNotes": True,
    "listNotes": True,
    "refuseUnfinished": True,
}
OFF = {key: 0 if isinstance(value, int) and not isinstance(value, bool) else False
       for key, value in TRAITS.items()}  # fmt: skip
DAYS = {"start": "2026-01-15", "end": "2026-01-28"}


@pytest.fixture
def wild() -> Iterator[httpx.Client]:
    with (
        BackgroundSimulator(SimulatorConfig(seed=7, profile="wild")) as running,
        httpx.Client(base_url=running.base_url, headers=XHR_HEADERS) as client,
    ):
        client.post("/__sim__/clock", json={"now": NOW}).raise_for_status()
        yield client


def traits_of(settings: dict[str, Any]) -> dict[str, Any]:
    return {key: settings[key] for key in TRAITS}


def test_the_wild_profile_turns_every_trait_on(wild: httpx.Client) -> None:
    assert len(WILD_TRAITS) == len(TRAITS)
    overview = wild.get("/__sim__").json()
    assert overview["profile"] == "wild"
    assert traits_of(overview["settings"]) == TRAITS
    assert "<script>setTimeout(" in wild.get("/login").text
    assert live_login(wild).headers["location"] == "/auth/callback?step=1&hops=3"
    feed = wild.get("/appointments/getCalendarEventData", params=DAYS)
    assert feed.headers["content-type"].startswith("text/html")


def test_a_profile_switches_every_trait_and_reset_returns_to_the_started_one(
    wild: httpx.Client,
) -> None:
    standard = change_settings(wild, profile="standard", latencyMs=0)
    assert standard["profile"] == "standard"
    assert traits_of(standard) == OFF
    refined = change_settings(wild, jsonAsHtml=False, profile="wild")  # profile first
    assert traits_of(refined) == {**TRAITS, "jsonAsHtml": False}
    change_settings(wild, profile="standard")
    assert wild.post("/__sim__/reset").status_code == 200
    assert traits_of(wild.get("/__sim__/settings").json()) == TRAITS
    assert wild.get("/__sim__").json()["profile"] == "wild"
    refused = wild.post("/__sim__/settings", json={"profile": "tame"})
    assert refused.status_code == 400
    assert wild.get("/__sim__/settings").json()["profile"] == "wild"


def test_a_standard_simulator_starts_with_every_trait_off(live: httpx.Client) -> None:
    settings = live.get("/__sim__/settings").json()
    assert (settings["profile"], traits_of(settings)) == ("standard", OFF)
    with pytest.raises(ValueError, match="profile"):
        SimulatorConfig(profile="tame")  # type: ignore[arg-type]


def canonical(event: dict[str, Any]) -> dict[str, Any]:
    """What does not depend on the profile: values modulo case, the wild status wording."""
    shown = dict(event)
    for key in ("patient_name", "first_name", "last_name", "title", "status_label"):
        shown.pop(key, None)
    status = (event["current_status"] or "").casefold()
    shown["current_status"] = "not arrived" if status == "scheduled" else status
    shown["status_class"] = None
    shown["names"] = [str(event[k]).casefold() for k in ("patient_name", "first_name", "last_name")]
    return shown


def note_of(page: dict[str, Any]) -> str:
    """The clinical note wherever the page-data keeps it."""
    notes = page.get("consultationNotes")
    if isinstance(notes, list):
        return "".join(note["notes"] for note in notes)
    if isinstance(notes, dict):
        return str(notes["notes"])
    return str(page["consultation"].get("dischargeSummary", ""))


def test_the_same_seed_is_the_same_world_in_both_profiles(
    live: httpx.Client, wild: httpx.Client
) -> None:
    live_login(live)
    plain = live.get("/__sim__/appointments", params=DAYS).json()
    listed = wild.get("/__sim__/appointments", params=DAYS).json()
    stays = [e for e in listed if e["type_description"] in {"Boarding", "Hospitalisation"}]
    assert stays
    assert [canonical(e) for e in listed if e not in stays] == [canonical(e) for e in plain]
    assert any(e["first_name"] != w["first_name"] for e, w in zip(plain, listed, strict=False))

    wild.post("/__sim__/settings", json={"refuseUnfinished": False})
    live_login(wild)
    consultations = [e["consultation_id"] for e in plain if e["consultation_id"]][-60:]
    for consultation in consultations:
        path = f"/consultations/{consultation}/page-data"
        before, after = live_json(live, path), live_json(wild, path)
        assert note_of(after) == note_of(before), consultation
        assert after["consultation"]["status"] == before["consultation"]["status"]
        assert str(after["patient"]["id"]) == str(before["patient"]["id"])
        assert after["patient"]["name"].casefold() == before["patient"]["name"].casefold()
