"""The pipeline end to end: the real API over HTTP, real Chromium, the simulator, both databases.

One simulator and one server per database backend and simulator profile (module scope):
`standard` is our reading of IDEXX Neo, `wild` turns on every trait the real site may have
(login form drawn late, CSRF field, redirect chain, JSON labelled text/html, string and
unequal ids, lower-case statuses, mixed-case names, multi-day stays, notes in other places,
refusals for unfinished consultations). The tests run in file order and each leaves the
simulated world as the generated one (`/__sim__/reset`) and the cases in step with it, so
the next test starts from a synced clinic.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from pims_sync.domain.case_metadata import consultation_id_of
from pims_sync.domain.cases import CaseStatus, external_id, map_status
from tests.conftest import migrated_database
from tests.e2e.sync_stack import (
    SIM_INSTANT,
    TODAY,
    SimControl,
    Stack,
    StackOptions,
    running_stack,
    wall_to_utc,
)

pytestmark = pytest.mark.browser

SMALL = {"daysAhead": 2, "lookbackDays": 2}  # 5 days, ~190 appointments
FIRST, LAST = TODAY - timedelta(days=2), TODAY + timedelta(days=2)


def _day(offset: int) -> date:
    return TODAY + timedelta(days=offset)


@pytest.fixture(scope="module")
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of the module's backend, for all its tests."""
    with migrated_database(request.param, tmp_path_factory.mktemp("e2e"), "e2e") as url:
        yield url


@pytest.fixture(scope="module")
def profile(request: pytest.FixtureRequest) -> str:
    """The simulator profile of the module's stack."""
    return str(request.param)


@pytest.fixture(scope="module")
def stack(database: str, profile: str) -> Iterator[Stack]:
    yield from running_stack(database, StackOptions(profile=profile))


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test runs on SQLite and Postgres (marked), against both simulator profiles."""
    if "database" in metafunc.fixturenames:
        backends = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
        metafunc.parametrize("database", backends, indirect=True, scope="module")
        metafunc.parametrize("profile", ["standard", "wild"], indirect=True, scope="module")


def key(event: dict[str, Any]) -> str:
    """The case key of a feed event: its appointment id (the event's own `id` may differ)."""
    return external_id(str(event["appointment_id"]))


def status_word(event: dict[str, Any]) -> str:
    """The event's status in lower case (the wild profile writes `FINALIZED`, `not arrived`)."""
    return str(event["current_status"] or "").lower()


def is_upcoming(event: dict[str, Any]) -> bool:
    """Booked and not yet arrived: `Scheduled` or `not arrived`, in any case."""
    return map_status(event["current_status"]) == CaseStatus.DRAFT


# --- expectations ------------------------------------------------------------------------


def expected_case(event: dict[str, Any]) -> dict[str, Any]:
    """What the case of a simulator appointment must hold."""
    owner = " ".join(p for p in (event["first_name"], event["last_name"]) if p) or None
    return {
        "scheduled_at": wall_to_utc(event["start"]),
        "status": map_status(event["current_status"]).value,
        "name": event["patient_name"],
        "owner_name": owner,
        "owner_phone": event["phone_number"],
        "owner_email": event["email"],
    }


def actual_case(case: dict[str, Any]) -> dict[str, Any]:
    patient = case["patient"]
    return {
        "scheduled_at": case["scheduled_at"],
        "status": case["status"],
        **{k: patient[k] for k in ("name", "owner_name", "owner_phone", "owner_email")},
    }


def assert_mirrors(stack: Stack, truth: list[dict[str, Any]]) -> None:
    """Each appointment has exactly the case it should (ids, true instants, statuses, people)."""
    cases = stack.cases()
    for event in truth:
        case = cases[key(event)]
        assert actual_case(case) == expected_case(event), event["appointment_id"]
        assert case["source"] == "pims:idexx-neo"
        assert_species(case, str(event["appointment_id"]))


def assert_species(case: dict[str, Any], label: str) -> None:
    """Enriched cases carry the page-data's species and breed; the calendar has neither."""
    row, metadata = case["patient"], case["metadata"]
    if "pimsConsultation" not in metadata:
        assert row["species"] in {"dog", "cat", "bird", "rabbit", "other", "unknown"}, label
        return
    # The simulator's page-data says "Canine", "Feline" or "Lagomorph", always with a breed.
    assert row["species"] in {"dog", "cat", "other"}, label
    assert row["breed"], label
    entity = metadata["entities"]["patient"]
    assert (entity["species"], entity["breed"]) == (row["species"], row["breed"]), label


def assert_audits_match(stack: Stack, body: dict[str, Any]) -> None:
    """The full run's audit rows: completed at 100 %, counters equal to the answer's stats."""
    top, children = stack.db.audits(body["syncId"])
    assert (top["sync_type"], top["status"], top["progress_percentage"]) == (
        "full",
        "completed",
        100,
    )
    by_type = {child["sync_type"]: child for child in children}
    assert set(by_type) == {"inbound", "cases", "reconciliation"}
    for child in children:
        assert (child["status"], child["progress_percentage"]) == ("completed", 100)
        assert child["processed_items"] == child["total_items"]
    inbound, cases = body["inboundResult"]["stats"], body["casesResult"]["stats"]
    row = by_type["inbound"]
    assert row["appointments_found"] == inbound["appointmentsFound"]
    assert row["cases_created"] == inbound["casesCreated"]
    assert row["cases_updated"] == inbound["casesUpdated"]
    assert row["cases_skipped"] == inbound["casesSkipped"]
    assert by_type["cases"]["cases_enriched"] == cases["casesEnriched"]
    deleted = body["reconciliationResult"]["stats"]["casesDeleted"]
    assert by_type["reconciliation"]["cases_deleted"] == deleted
    run = stack.api.get(f"/api/sync/{body['syncId']}").json()
    assert run["status"] == "completed"
    assert run["progress"]["percentage"] == 100
    assert len(run["phases"]) == 3


def assert_single_audit(stack: Stack, body: dict[str, Any], status: str) -> dict[str, Any]:
    """A single-phase run's audit row: no children, ended `status`, progress at 100 %."""
    top, children = stack.db.audits(body["syncId"])
    assert children == []
    assert (top["status"], top["progress_percentage"]) == (status, 100)
    assert top["completed_at"] is not None
    return top


def full_ok(stack: Stack, **body: Any) -> dict[str, Any]:
    response = stack.sync("full", **(body or SMALL))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def soft_deleted(stack: Stack) -> set[str]:
    return {k for k, c in stack.cases().items() if "reconciliation" in c["metadata"]}


def fingerprint(case: dict[str, Any]) -> tuple[Any, ...]:
    """What inbound and reconciliation write: unchanged means the case was not touched."""
    meta = case["metadata"]
    return case["status"], case["scheduled_at"], meta.get("syncedAt"), str(case["patient"])


# --- the tests ---------------------------------------------------------------------------


def test_full_sync_mirrors_the_simulator_and_a_second_run_changes_nothing(stack: Stack) -> None:
    body = full_ok(stack, daysAhead=7, lookbackDays=7)
    truth = stack.control.appointments(_day(-7), _day(7))
    inbound = body["inboundResult"]["stats"]
    assert inbound["appointmentsFound"] == inbound["casesCreated"] == len(truth) > 500
    assert_mirrors(stack, truth)
    assert_audits_match(stack, body)
    visited = [e for e in truth if e["consultation_id"] and wall_to_utc(e["start"]) <= SIM_INSTANT]
    cases = body["casesResult"]["stats"]
    assert cases["casesFound"] == len(visited)
    assert cases["casesFailed"] == 0
    assert cases["casesEnriched"] + cases["casesSkipped"] == len(visited)
    stored = stack.cases()
    enriched = [e for e in visited if "pimsConsultation" in stored[key(e)]["metadata"]]
    assert len(enriched) == cases["casesEnriched"] > 200
    species = {stored[external_id(str(e["id"]))]["patient"]["species"] for e in enriched}
    assert {"dog", "cat"} <= species

    stack.control.post("/stats/reset")
    again = full_ok(stack, daysAhead=7, lookbackDays=7)
    second = again["inboundResult"]["stats"]
    assert (second["casesCreated"], second["casesUpdated"], second["casesSkipped"]) == (
        0,
        0,
        len(truth),
    )
    assert again["reconciliationResult"]["stats"]["casesDeleted"] == 0
    # Asked again: consultations read unfinished, and those the PIMS refused as not ready.
    not_final = [
        e
        for e in visited
        if not stored[key(e)]["metadata"].get("pimsConsultation", {}).get("isFinal", False)
    ]
    page_data = stack.control.stats()["endpoints"]["page-data"]["requests"]
    assert page_data == again["casesResult"]["stats"]["casesFound"] == len(not_final)
    assert_audits_match(stack, again)


def pick_changes(truth: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Four different appointments (and clients) to move, re-phone, cancel and delete."""

    def on(offset: int, n: int, upcoming: bool) -> dict[str, Any]:
        day = _day(offset).isoformat()
        found = [
            e
            for e in truth
            if e["start"].startswith(day)
            and e["end"].startswith(day)  # a visit, not a stay
            and (is_upcoming(e) if upcoming else status_word(e) == "finalized")
        ]
        return found[n]

    return {
        "move": on(1, 3, upcoming=True),
        "phone": on(2, 5, upcoming=True),
        "cancel": on(2, 9, upcoming=True),
        "delete": on(-1, 4, upcoming=False),
    }


def test_changes_in_the_simulator_touch_exactly_those_cases(stack: Stack) -> None:
    control, truth = stack.control, stack.control.appointments(FIRST, LAST)
    picked = pick_changes(truth)
    assert len({e["client_id"] for e in picked.values()}) == 4
    before = stack.cases()
    ids = {name: event["appointment_id"] for name, event in picked.items()}
    control.post(f"/appointments/{ids['move']}/move", {"start": f"{_day(1)} 07:15:00"})
    control.post(f"/clients/{picked['phone']['client_id']}", {"phone": "650-555-0199"})
    control.post(f"/appointments/{ids['cancel']}/cancel", {"reason": "e2e"})
    control.post(f"/appointments/{ids['delete']}/delete")

    body = full_ok(stack)
    re_phoned = [e for e in truth if e["client_id"] == picked["phone"]["client_id"]]
    changed = {key(picked["move"]), key(picked["cancel"]), *map(key, re_phoned)}
    assert body["inboundResult"]["stats"]["casesUpdated"] == len(changed)
    deleted_key = key(picked["delete"])
    reconciliation = body["reconciliationResult"]
    assert reconciliation["stats"]["casesDeleted"] == 1
    assert reconciliation["deletedCaseIds"] == [str(before[deleted_key]["id"])]
    after = stack.cases()
    assert_mirrors(stack, control.appointments(FIRST, LAST))
    assert after[key(picked["move"])]["scheduled_at"] == wall_to_utc(f"{_day(1)} 07:15:00")
    assert after[key(picked["cancel"])]["status"] == "reviewed"
    marker = after[deleted_key]["metadata"]["reconciliation"]
    assert marker["softDeleted"] is True
    assert marker["reason"] == "removed_from_pims"
    assert (after[deleted_key]["status"], marker["previousStatus"]) == ("reviewed", "completed")
    untouched = set(before) - changed - {deleted_key}
    assert all(fingerprint(after[k]) == fingerprint(before[k]) for k in untouched)


def test_deleted_then_re_added_is_restored(stack: Stack) -> None:
    deleted = soft_deleted(stack)
    assert len(deleted) == 1  # the previous test's deletion
    stack.control.reset()  # the generated world again: the deleted appointment is back
    response = stack.sync("reconcile", lookbackDays=2)
    assert response.status_code == 200, response.text
    stats = response.json()["stats"]
    assert (stats["casesRestored"], stats["casesDeleted"]) == (1, 0)
    row = assert_single_audit(stack, response.json(), "completed")
    assert row["cases_deleted"] == 0
    case = stack.cases()[deleted.pop()]
    assert "reconciliation" not in case["metadata"]
    assert case["status"] == "completed"
    full_ok(stack)  # the moved, re-phoned and cancelled ones follow the reset too
    assert_mirrors(stack, stack.control.appointments(FIRST, LAST))


def test_late_notes_are_picked_up_by_the_next_cases_run(stack: Stack) -> None:
    cases = stack.cases()
    # Read unfinished (standard), or refused as not ready and never read (wild).
    waiting = sorted(
        (
            c
            for c in cases.values()
            if consultation_id_of(c["metadata"])
            and c["metadata"].get("pimsConsultation", {}).get("isFinal", False) is False
            and c["scheduled_at"] <= SIM_INSTANT
        ),
        key=lambda c: c["scheduled_at"],
    )
    assert waiting, "some of today's consultations have no notes yet"
    target = waiting[0]
    consultation_id = consultation_id_of(target["metadata"])
    note = "<p>Late note written after the visit: e2e-marker-7731</p>"
    stack.control.post(f"/consultations/{consultation_id}/notes", {"notes": note})
    response = stack.sync("cases", startDate=str(FIRST), endDate=str(TODAY))
    assert response.status_code == 200, response.text
    assert response.json()["stats"]["casesEnriched"] >= 1
    row = assert_single_audit(stack, response.json(), "completed")
    assert row["cases_enriched"] == response.json()["stats"]["casesEnriched"]
    written = stack.cases()[target["external_id"]]["metadata"]
    # IDEXX's clinical note is the HTML of consultationNotes; notesText is its plain text.
    assert (
        written["pimsConsultation"]["notesText"]
        == "Late note written after the visit: e2e-marker-7731"
    )
    assert written["pimsConsultation"]["isFinal"] is True
    assert written["enrichedAt"] != target["metadata"].get("enrichedAt")
    stack.control.reset()


@pytest.mark.parametrize("endpoint", ["calendar", "*"])
def test_pims_failing_during_reconciliation_deletes_nothing(stack: Stack, endpoint: str) -> None:
    cases = stack.cases()
    stack.control.post("/faults", {"endpoint": endpoint, "status": 500, "rate": 1.0})
    try:
        response = stack.sync("reconcile", lookbackDays=2)
        full = stack.sync("full", **SMALL)
    finally:
        stack.control.post("/faults", {"clear": True})
    assert response.status_code == 502, response.text
    error = response.json()
    assert error["code"] == "pims_unavailable", error
    assert "500" in error["error"], error
    top, _ = stack.db.audits(error["syncId"])
    assert top["status"] == "failed"
    assert top["error_message"] == error["error"]
    assert full.status_code == 207, full.text
    skipped = full.json()["reconciliationResult"]
    assert skipped["success"] is False
    assert skipped.get("skipped") is True
    after = stack.cases()
    assert all(fingerprint(after[k]) == fingerprint(c) for k, c in cases.items())


def test_empty_calendar_is_refused_unless_forced(stack: Stack) -> None:
    for offset in (-2, -1, 0):
        stack.control.post(f"/days/{_day(offset)}/clear")
    window = {
        k
        for k, c in stack.cases().items()
        if wall_to_utc(f"{FIRST} 00:00:00")
        <= c["scheduled_at"]
        < wall_to_utc(f"{_day(1)} 00:00:00")
    }
    refused = stack.sync("reconcile", lookbackDays=2)
    assert refused.status_code == 409, refused.text
    assert refused.json()["code"] == "reconciliation_guard"
    assert refused.json()["syncId"]
    assert soft_deleted(stack) == set()
    forced = stack.sync("reconcile", lookbackDays=2, force=True)
    assert forced.status_code == 200, forced.text
    assert forced.json()["stats"]["casesDeleted"] == len(window) > 100
    assert soft_deleted(stack) == window
    refused_row, _ = stack.db.audits(refused.json()["syncId"])
    assert refused_row["status"] == "failed"
    assert refused_row["error_message"] == refused.json()["error"]
    forced_row = assert_single_audit(stack, forced.json(), "completed")
    assert forced_row["cases_deleted"] == len(window)
    stack.control.reset()
    restored = full_ok(stack)
    assert restored["inboundResult"]["stats"]["casesUpdated"] == len(window)
    assert soft_deleted(stack) == set()


def test_enrichment_and_foreign_keys_survive_an_inbound_update(stack: Stack) -> None:
    day = [e for e in stack.control.appointments(_day(-1), _day(-1)) if e["consultation_id"]]
    event = day[0]
    case_key = key(event)
    case = stack.cases()[case_key]
    kept = {"callIntelligence": {"calls": 2, "sentiment": "positive"}, "crmTag": "vip"}
    stack.db.set_metadata(case["id"], {**case["metadata"], **kept})
    enrichment = {
        k: case["metadata"][k] for k in ("pimsConsultation", "dischargeSummary", "enrichedAt")
    }
    stack.control.post(
        f"/clients/{event['client_id']}", {"phone": "650-555-0123", "email": "e2e@example.com"}
    )
    response = stack.sync("inbound", startDate=str(_day(-1)), endDate=str(_day(-1)))
    assert response.status_code == 200, response.text
    assert response.json()["stats"]["casesUpdated"] >= 1
    updated = stack.cases()[case_key]
    assert {k: updated["metadata"][k] for k in enrichment} == enrichment
    assert {k: updated["metadata"][k] for k in kept} == kept
    assert updated["metadata"]["entities"]["clinical"] == case["metadata"]["entities"]["clinical"]
    assert updated["patient"]["owner_phone"] == "650-555-0123"
    assert updated["patient"]["owner_email"] == "e2e@example.com"
    # Species and breed came from the consultation; the calendar update must not lose them.
    assert case["patient"]["species"] != "unknown"
    assert {k: updated["patient"][k] for k in ("species", "breed")} == {
        k: case["patient"][k] for k in ("species", "breed")
    }
    stack.control.reset()
    full_ok(stack)


def test_two_concurrent_runs_for_one_clinic_one_runs_the_other_gets_409(stack: Stack) -> None:
    stack.control.post("/settings", {"latencyMs": 100})  # a run lasts well over a second
    barrier, answers = threading.Barrier(2), []

    def post() -> None:
        barrier.wait()
        answers.append(stack.sync("full", **SMALL))

    threads = [threading.Thread(target=post) for _ in range(2)]
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
    finally:
        stack.control.post("/settings", {"latencyMs": 0})
    ran, refused = sorted(answers, key=lambda r: r.status_code)
    assert (ran.status_code, refused.status_code) == (200, 409), refused.text
    assert refused.json()["code"] == "sync_in_progress"
    assert refused.json()["syncId"] == ran.json()["syncId"]
    assert_audits_match(stack, ran.json())


def test_simulator_control_is_the_truth_the_tests_compare_with(stack: Stack) -> None:
    """Guard against a vacuous comparison: the truth is non-empty and shaped as assumed."""
    truth = stack.control.appointments(FIRST, LAST)
    assert len(truth) > 150
    assert {status_word(e) for e in truth} >= {"finalized", "not arrived"}
    assert any(is_upcoming(e) and e["start"] > f"{TODAY} 23:59:59" for e in truth)
    assert isinstance(stack.control, SimControl)


def test_simulator_down_during_reconciliation_deletes_nothing(stack: Stack) -> None:
    """Last of the module: the simulator stops for good (connections refused)."""
    cases = stack.cases()
    stack.sim.stop()
    response = stack.sync("reconcile", lookbackDays=2)
    assert response.status_code == 502, response.text
    error = response.json()
    assert error["code"] == "pims_unavailable", error
    assert "unreachable" in error["error"], error  # e.g. "… (last: … unreachable: ConnectError)"
    top, _ = stack.db.audits(error["syncId"])
    assert top["status"] == "failed"
    assert top["error_message"] == error["error"]
    after = stack.cases()
    assert all(fingerprint(after[k]) == fingerprint(c) for k, c in cases.items())
    assert soft_deleted(stack) == set()
