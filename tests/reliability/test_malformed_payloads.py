"""Malformed PIMS data (issue 8): a clear per-item error, the rest of the run goes on.

The simulator serves chosen calendar events and consultation page-data malformed (its
`/__sim__/…/corrupt` routes: wrong types, missing fields, no id, duplicate ids, huge
notes) while a real full sync runs through the API (real Chromium login, real provider,
real SQLite). Each test checks that the bad items are named in the API result and the
audit row, that every other appointment is written and every other consultation
enriched, that no case is soft-deleted because its event was unreadable, and that a
calendar which is mostly unreadable still fails the run as a whole (docs/pipeline.md#inbound).

The tests share one stack and run in file order; each leaves the simulated world as
generated (`reset`, then a clean full run) so the next starts from a synced clinic.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import date, timedelta
from typing import Any

import pytest

from pims_sync.domain.cases import external_id
from tests.conftest import migrated_database
from tests.e2e.sync_stack import TODAY, Stack, running_stack
from tests.reliability.report import FaultReport, FaultRow

pytestmark = pytest.mark.browser

WINDOW = {"daysAhead": 1, "lookbackDays": 1}  # yesterday, today, tomorrow: ~120 visits
YESTERDAY, TOMORROW = TODAY - timedelta(days=1), TODAY + timedelta(days=1)


@pytest.fixture(scope="module")
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of the module's backend, for all its tests."""
    with migrated_database(request.param, tmp_path_factory.mktemp("malformed"), "malformed") as url:
        yield url


@pytest.fixture(scope="module")
def stack(database: str) -> Iterator[Stack]:
    started = time.monotonic()
    yield from running_stack(database)
    print(f"\nmalformed payloads: module ran in {time.monotonic() - started:.1f} s")


@pytest.fixture(scope="module")
def backend(database: str) -> str:
    return "sqlite" if database.startswith("sqlite") else "postgres"


# Postgres too for what writes and deletes cases (the page-data and whole-payload checks do
# not depend on the database); it keeps the module within its time budget.
ON_POSTGRES_TOO = {
    "test_malformed_calendar_events_are_per_item_errors",
    "test_an_event_without_an_id_holds_deletions",
}


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test on SQLite; the case-writing ones on Postgres too (marked `postgres`)."""
    if "database" in metafunc.fixturenames:
        backends: list[Any] = ["sqlite"]
        if metafunc.function.__name__ in ON_POSTGRES_TOO:
            backends.append(pytest.param("postgres", marks=pytest.mark.postgres))
        metafunc.parametrize("database", backends, indirect=True, scope="module")


# How each row of docs/reliability.md is made (its notes under the table).
HOW = {
    "malformed page-data (5 consultations)": (
        "`POST /__sim__/consultations/{id}/corrupt` before the clinic's first full sync: "
        "`consultation.status` a list, `consultation` dropped, `consultationLines` an object, "
        "notes of 2 MB (over the 1 MiB notes cap) and of 5 MB (over the provider's 4 MiB "
        "page-data cap). Each is a failed case naming its reason; the others are enriched; a "
        "cases run after clearing the corruption enriches the five."
    ),
    "malformed calendar events (4 of ~120)": (
        "`POST /__sim__/appointments/{id}/corrupt` on today's events: `start` a list (the "
        "appointment also moved in the PIMS), `phone_number` an object, `start` dropped, an "
        "identical duplicate (collapses) and a duplicate with another reason (rejected, first "
        "kept); another appointment really deleted. The four are failed items named by id; their "
        "cases are untouched and not deleted; only the deleted appointment's case is "
        "soft-deleted."
    ),
    "calendar event without an id": (
        "`id` and `appointment_id` dropped from one of yesterday's events while another "
        "appointment is deleted: reconciliation cannot tell which case the nameless event is, so "
        "it deletes nothing in its window and says so (`deletionsHeld`); once the calendar reads "
        "cleanly the deletion goes ahead."
    ),
    "calendar mostly unreadable": (
        "every event of yesterday gets a `start` object (a third of the window): more than 20 % "
        "and more than 3 unreadable fails inbound as `calendar payload looks changed`, "
        "reconciliation is skipped, a reconcile run alone is refused (502 "
        "`pims_payload_invalid`); nothing is written or deleted."
    ),
}


# --- helpers -------------------------------------------------------------------------------


def full(stack: Stack) -> dict[str, Any]:
    response = stack.sync("full", **WINDOW)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def visits(stack: Stack, day: date) -> list[dict[str, Any]]:
    """The day's appointments (truth, from the control API), oldest first."""
    return sorted(stack.control.appointments(day, day), key=lambda e: (e["start"], e["id"]))


def corrupt(stack: Stack, what: str, item_id: int, body: dict[str, Any]) -> None:
    stack.control.post(f"/{what}/{item_id}/corrupt", body)


def key(event: dict[str, Any]) -> str:
    return external_id(str(event["id"]))


def fingerprint(case: dict[str, Any]) -> tuple[Any, ...]:
    """What inbound and reconciliation write: unchanged means the case was not touched."""
    meta = case["metadata"]
    return case["status"], case["scheduled_at"], meta.get("syncedAt"), str(case["patient"])


def soft_deleted(stack: Stack) -> set[str]:
    return {k for k, c in stack.cases().items() if "reconciliation" in c["metadata"]}


def children(stack: Stack, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    _, rows = stack.db.audits(body["syncId"])
    return {row["sync_type"]: row for row in rows}


def synced(stack: Stack) -> None:
    """A clinic with its cases (when this test runs without the ones before it)."""
    if not stack.cases():
        full(stack)


def back_to_truth(stack: Stack) -> None:
    """The generated world again, and the cases in step with it."""
    stack.control.reset()
    body = full(stack)
    assert body["inboundResult"]["stats"]["casesFailed"] == 0
    assert soft_deleted(stack) == set()


# --- the tests -----------------------------------------------------------------------------


def test_malformed_page_data_fails_only_its_case(
    stack: Stack, fault_report: FaultReport, backend: str
) -> None:
    """Wrong types, no consultation object, notes over 1 MiB, a body over 4 MiB: per item."""
    fault_report.describe(
        "malformed page-data (5 consultations)", HOW["malformed page-data (5 consultations)"]
    )
    visited = [e for e in visits(stack, YESTERDAY) if e["consultation_id"]]
    bad: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
        "wrong type": (visited[0], {"field": "consultation.status", "value": ["final"]}),
        "no consultation": (visited[1], {"field": "consultation"}),
        "lines not a list": (visited[2], {"field": "consultationLines", "value": {"a": 1}}),
        "notes 2 MB": (visited[3], {"notesBytes": 2_000_000}),
        "notes 5 MB": (visited[4], {"notesBytes": 5_000_000}),
    }
    for event, body in bad.values():
        corrupt(stack, "consultations", event["consultation_id"], body)

    body = full(stack)  # the clinic's first sync: every visited case is a candidate
    cases = body["casesResult"]
    errors = {e["consultationId"]: e for e in cases.get("errors", [])}
    failed, enriched = cases["stats"]["casesFailed"], cases["stats"]["casesEnriched"]
    rest_enriched = (
        cases["stats"]["casesFound"] == failed + enriched + cases["stats"]["casesSkipped"]
    )
    stored = stack.cases()
    fault_report.record(
        FaultRow(
            backend=backend,
            fault="malformed page-data (5 consultations)",
            phase="full",
            expected="5 failed, the rest enriched",
            observed=f"{failed} failed, "
            + ("the rest enriched" if rest_enriched else f"{enriched} enriched"),
            lost=sum(1 for e in visits(stack, YESTERDAY) if key(e) not in stored),
            duplicated=0,
            spurious_deletes=len(soft_deleted(stack)),
            audit=f"cases row {children(stack, body)['cases']['status']}, "
            f"cases_failed={children(stack, body)['cases']['cases_failed']}",
        )
    )
    assert body["success"] is True, body
    assert cases["stats"]["casesFailed"] == len(bad)
    assert cases["stats"]["casesEnriched"] > 20
    reasons = {
        name: errors[str(event["consultation_id"])]["reason"] for name, (event, _) in bad.items()
    }
    assert "consultation.status is a list, expected text" in reasons["wrong type"]
    assert "payload has no consultation (it is null)" in reasons["no consultation"]
    assert "lines are not a list" in reasons["lines not a list"]
    assert "consultationNotes.notes too large (2000000 bytes" in reasons["notes 2 MB"]
    assert "response larger than 4194304 bytes" in reasons["notes 5 MB"]
    for event, _ in bad.values():
        assert "pimsConsultation" not in stored[key(event)]["metadata"]
    enriched = [e for e in visited[5:] if "pimsConsultation" in stored[key(e)]["metadata"]]
    assert len(enriched) == len(visited) - len(bad)
    row = children(stack, body)["cases"]
    assert (row["status"], row["cases_failed"]) == ("completed", len(bad))
    assert {e["consultationId"] for e in row["result"]["errors"]} == set(errors)

    stack.control.post("/corruptions/clear")
    again = stack.sync("cases", startDate=str(YESTERDAY), endDate=str(TODAY))
    assert again.status_code == 200, again.text
    assert again.json()["stats"]["casesFailed"] == 0
    stored = stack.cases()
    assert all("pimsConsultation" in stored[key(e)]["metadata"] for e, _ in bad.values())
    back_to_truth(stack)


def test_malformed_calendar_events_are_per_item_errors(
    stack: Stack, fault_report: FaultReport, backend: str
) -> None:
    """Wrong types and missing fields and duplicates: named, left alone, never deleted."""
    fault_report.describe(
        "malformed calendar events (4 of ~120)", HOW["malformed calendar events (4 of ~120)"]
    )
    synced(stack)
    day = visits(stack, TODAY)
    moved, phoned, no_start, twin, conflict, gone, fine = (
        day[1],
        day[2],
        day[3],
        day[4],
        day[5],
        day[6],
        day[7],
    )
    corrupt(stack, "appointments", moved["id"], {"field": "start", "value": [2026, 6, 10]})
    stack.control.post(f"/appointments/{moved['id']}/move", {"start": f"{TODAY} 07:00:00"})
    corrupt(stack, "appointments", phoned["id"], {"field": "phone_number", "value": {"n": 1}})
    corrupt(stack, "appointments", no_start["id"], {"field": "start"})
    corrupt(stack, "appointments", twin["id"], {"duplicate": True})
    corrupt(stack, "appointments", conflict["id"], {"duplicate": True, "set": {"reason": "X"}})
    stack.control.post(f"/appointments/{gone['id']}/delete")
    stack.control.post(f"/appointments/{fine['id']}/move", {"start": f"{TODAY} 07:15:00"})
    before = stack.cases()

    body = full(stack)
    inbound, reconciliation = body["inboundResult"], body["reconciliationResult"]
    after = stack.cases()
    unreadable = {moved["id"], phoned["id"], no_start["id"], conflict["id"]}
    named = {int(e["appointmentId"]) for e in inbound.get("errors", [])}
    deleted_keys = soft_deleted(stack)
    spurious = deleted_keys - {key(gone)}
    fault_report.record(
        FaultRow(
            backend=backend,
            fault="malformed calendar events (4 of ~120)",
            phase="full",
            expected="4 failed items, the rest written, only the removed one deleted",
            observed=f"{inbound['stats']['casesFailed']} failed items, the rest written, "
            + ("only the removed one deleted" if deleted_keys == {key(gone)} else "other deletes"),
            lost=sum(1 for k in before if k not in after),
            duplicated=0,
            spurious_deletes=len(spurious),
            audit=f"inbound row {children(stack, body)['inbound']['status']}, "
            f"cases_failed={children(stack, body)['inbound']['cases_failed']}",
        )
    )
    assert body["success"] is True, body
    assert inbound["stats"]["casesFailed"] == 4
    assert named == unreadable
    reasons = {int(e["appointmentId"]): e["reason"] for e in inbound["errors"]}
    assert reasons[moved["id"]] == "start is a list, expected text"
    assert reasons[phoned["id"]] == "phone_number is an object, expected text"
    assert reasons[no_start["id"]] == "it has no start time"
    assert reasons[conflict["id"]].startswith("it repeats the id of event #")
    for event in (moved, phoned, no_start):
        assert fingerprint(after[key(event)]) == fingerprint(before[key(event)]), event["id"]
    assert after[key(phoned)]["patient"]["owner_phone"] == phoned["phone_number"]
    assert after[key(fine)]["scheduled_at"] != before[key(fine)]["scheduled_at"]  # written
    assert reconciliation["stats"]["casesDeleted"] == 1
    assert deleted_keys == {key(gone)}
    assert "deletionsHeld" not in reconciliation
    # The whole listing, minus the unreadable ones, equals what was written.
    counted = inbound["stats"]
    assert counted["appointmentsFound"] == (
        counted["casesCreated"] + counted["casesUpdated"] + counted["casesSkipped"] + 4
    )
    row = children(stack, body)["inbound"]
    assert (row["status"], row["cases_failed"], row["progress_percentage"]) == ("completed", 4, 100)
    assert {int(e["appointmentId"]) for e in row["result"]["errors"]} == unreadable
    top, _ = stack.db.audits(body["syncId"])
    assert (top["status"], top["cases_failed"]) == ("completed", 4)
    stack.control.post(f"/appointments/{gone['id']}/restore")
    back_to_truth(stack)


def test_an_event_without_an_id_holds_deletions(
    stack: Stack, fault_report: FaultReport, backend: str
) -> None:
    """Any case could be the unreadable event's: nothing in the window is deleted; it says so."""
    fault_report.describe("calendar event without an id", HOW["calendar event without an id"])
    synced(stack)
    day = visits(stack, YESTERDAY)
    nameless, gone = day[2], day[9]
    corrupt(stack, "appointments", nameless["id"], {"drop": ["id", "appointment_id"]})
    stack.control.post(f"/appointments/{gone['id']}/delete")
    before = stack.cases()

    body = full(stack)
    reconciliation = body["reconciliationResult"]
    held = reconciliation.get("deletionsHeld", {})
    fault_report.record(
        FaultRow(
            backend=backend,
            fault="calendar event without an id",
            phase="full",
            expected="1 failed item, deletions held",
            observed=f"{body['inboundResult']['stats']['casesFailed']} failed item, "
            + ("deletions held" if held else f"{reconciliation['stats']['casesDeleted']} deleted"),
            lost=sum(1 for k in before if k not in stack.cases()),
            duplicated=0,
            spurious_deletes=len(soft_deleted(stack)),
            audit=f"reconciliation row {children(stack, body)['reconciliation']['status']}",
        )
    )
    assert body["success"] is True, body
    (error,) = body["inboundResult"]["errors"]
    assert "no readable id" in error["message"]
    assert "appointmentId" not in error
    assert reconciliation["stats"]["casesDeleted"] == 0
    assert held["cases"] == 2  # the removed one, and the nameless event's own case
    assert "no readable id" in held["reason"]
    assert soft_deleted(stack) == set()
    after = stack.cases()
    assert fingerprint(after[key(nameless)]) == fingerprint(before[key(nameless)])
    row = children(stack, body)["reconciliation"]
    assert row["result"]["deletionsHeld"] == held
    # A dry run shows the same; once the calendar reads cleanly the deletion goes ahead.
    preview = stack.sync("reconcile", lookbackDays=1, dryRun=True).json()
    assert (preview["wouldDelete"], preview["deletionsHeld"]["cases"]) == ([], 2)
    stack.control.post("/corruptions/clear")
    cleared = stack.sync("reconcile", lookbackDays=1)
    assert cleared.status_code == 200, cleared.text
    assert soft_deleted(stack) == {key(gone)}
    stack.control.post(f"/appointments/{gone['id']}/restore")
    back_to_truth(stack)


def test_a_mostly_unreadable_calendar_fails_the_run(
    stack: Stack, fault_report: FaultReport, backend: str
) -> None:
    """A payload that looks changed fails the run; nothing written or deleted (docs/pipeline.md)."""
    fault_report.describe("calendar mostly unreadable", HOW["calendar mostly unreadable"])
    synced(stack)
    day = visits(stack, YESTERDAY)
    for event in day:  # a third of the window's ~110 appointments
        corrupt(stack, "appointments", event["id"], {"field": "start", "value": {"date": 1}})
    for event in visits(stack, TODAY)[:3]:
        stack.control.post(f"/appointments/{event['id']}/delete")  # would be deleted otherwise
    before = stack.cases()

    response = stack.sync("full", **WINDOW)
    body = response.json()
    inbound, reconciliation = body["inboundResult"], body["reconciliationResult"]
    refused = stack.sync("reconcile", lookbackDays=1)
    after = stack.cases()
    looks_changed = str(inbound.get("error")).startswith("calendar payload looks changed")
    fault_report.record(
        FaultRow(
            backend=backend,
            fault="calendar mostly unreadable",
            phase="full",
            expected="207 inbound failed (payload looks changed), reconciliation skipped",
            observed=f"{response.status_code} inbound "
            + ("failed (payload looks changed)" if looks_changed else "not refused")
            + (", reconciliation skipped" if reconciliation.get("skipped") else ""),
            lost=sum(1 for k in before if k not in after),
            duplicated=0,
            spurious_deletes=len(soft_deleted(stack)),
            audit=f"inbound row {children(stack, body)['inbound']['status']}",
        )
    )
    assert response.status_code == 207, response.text
    assert inbound["success"] is False
    assert inbound["error"].startswith("calendar payload looks changed: ")
    assert "start is an object, expected text" in inbound["error"]
    assert reconciliation.get("skipped") is True
    assert refused.status_code == 502, refused.text
    assert refused.json()["code"] == "pims_payload_invalid"
    assert all(fingerprint(after[k]) == fingerprint(c) for k, c in before.items())
    assert soft_deleted(stack) == set()
    row = children(stack, body)["inbound"]
    assert row["status"] == "failed"
    assert row["error_message"] == inbound["error"]
    back_to_truth(stack)
