"""Each in-the-wild trait alone, through the whole service: API, real Chromium, simulator, SQLite.

The simulator starts in its standard profile; each test turns on one trait (or a fault)
with `/__sim__/settings`, syncs through the HTTP API and checks what the cases hold.
Every test leaves the world and the settings as generated (`reset`) and the cases in step.
The login traits are tested alone in tests/integration/idexx/test_login_wild.py; the
whole `wild` profile runs the pipeline suite in test_sync_end_to_end.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pims_sync.domain.case_metadata import consultation_id_of
from pims_sync.domain.cases import external_id
from tests.conftest import migrated_database
from tests.e2e.sync_stack import TODAY, Stack, running_stack, wall_to_utc

pytestmark = pytest.mark.browser

WINDOW = {"daysAhead": 2, "lookbackDays": 2}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """One synced clinic on SQLite against the standard simulator."""
    directory: Path = tmp_path_factory.mktemp("traits")
    with migrated_database("sqlite", directory, "traits") as url:
        for stack in running_stack(url):
            full(stack)
            yield stack


def full(stack: Stack, **body: Any) -> dict[str, Any]:
    """A full sync of the small window that must succeed."""
    response = stack.sync("full", **(body or WINDOW))
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def traits(stack: Stack, **settings: Any) -> None:
    """Turn simulator settings on (reset turns them off again)."""
    stack.control.post("/settings", settings)


def fingerprints(stack: Stack) -> dict[str, tuple[Any, ...]]:
    """What a write would change, per case."""
    return {
        k: (c["status"], c["scheduled_at"], c["metadata"].get("syncedAt"), str(c["patient"]))
        for k, c in stack.cases().items()
    }


@pytest.fixture(autouse=True)
def back_to_standard(stack: Stack) -> Iterator[None]:
    """Each test starts and ends on the generated world, settings off, clock frozen."""
    yield
    stack.control.post("/faults", {"clear": True})
    stack.control.reset()


def test_string_and_unequal_ids_read_as_the_same_appointments(stack: Stack) -> None:
    before = fingerprints(stack)
    traits(stack, stringIds=True, unequalIds=True, flagsAsNumbers=True)
    body = full(stack)
    inbound = body["inboundResult"]["stats"]
    assert (inbound["casesCreated"], inbound["casesUpdated"]) == (0, 0)
    assert inbound["fieldsCoerced"] > 0
    assert body["reconciliationResult"]["stats"]["casesDeleted"] == 0
    assert fingerprints(stack) == before


def test_a_four_day_stay_begun_three_days_before_the_window_gets_its_case(stack: Stack) -> None:
    start = f"{TODAY - timedelta(days=3)} 08:00:00"
    end = f"{TODAY + timedelta(days=1)} 08:00:00"
    added = stack.control.post("/appointments", {"start": start, "end": end, "typeId": 1009})
    stay = added["appointment"]
    response = stack.sync("inbound", startDate=str(TODAY), endDate=str(TODAY + timedelta(days=2)))
    assert response.status_code == 200, response.text
    assert response.json()["stats"]["casesCreated"] == 1
    case = stack.cases()[external_id(str(stay["appointment_id"]))]
    assert case["scheduled_at"] == wall_to_utc(start)
    # Reconciling the days it began in keeps it: the feed still lists it there.
    reconcile = stack.sync("reconcile", lookbackDays=2)
    assert reconcile.status_code == 200, reconcile.text
    assert "reconciliation" not in stack.cases()[case["external_id"]]["metadata"]


def _enriched_by_remainder(stack: Stack, remainder: int) -> list[dict[str, Any]]:
    """Final enriched cases whose consultation id leaves this remainder modulo 5."""
    return [
        c
        for c in stack.cases().values()
        if c["metadata"].get("pimsConsultation", {}).get("isFinal")
        and int(consultation_id_of(c["metadata"]) or 0) % 5 == remainder
    ]


def _refetch(stack: Stack) -> None:
    """Forget what was read, so the next cases run fetches every consultation again."""
    for case in stack.cases().values():
        metadata = dict(case["metadata"])
        if metadata.pop("pimsConsultation", None) is not None:
            stack.db.set_metadata(case["id"], metadata)


def test_notes_only_in_the_discharge_summary_are_kept(stack: Stack) -> None:
    traits(stack, dischargeOnlyNotes=True)
    _refetch(stack)
    full(stack)
    cases = _enriched_by_remainder(stack, 0)
    assert len(cases) > 10
    for case in cases:
        consultation = case["metadata"]["pimsConsultation"]
        assert consultation["notesHtml"] is None
        assert consultation["dischargeSummary"].startswith("<p>")
        assert consultation["notesText"]
        assert case["metadata"]["dischargeSummary"] == consultation["dischargeSummary"]


def test_notes_as_a_list_are_kept_whole(stack: Stack) -> None:
    before = {k: c["metadata"]["pimsConsultation"] for k, c in _keyed(stack, 1).items()}
    traits(stack, listNotes=True)
    _refetch(stack)
    full(stack)
    after = _keyed(stack, 1)
    assert len(after) > 10
    assert set(after) == set(before)
    for key, case in after.items():
        text = case["metadata"]["pimsConsultation"]["notesText"]
        assert " ".join(text.split()) == " ".join(before[key]["notesText"].split()), key


def _keyed(stack: Stack, remainder: int) -> dict[str, dict[str, Any]]:
    return {c["external_id"]: c for c in _enriched_by_remainder(stack, remainder)}


def test_a_refused_consultation_is_skipped_then_read_on_the_next_run(stack: Stack) -> None:
    traits(stack, refuseUnfinished=True)
    _refetch(stack)
    response = stack.sync("cases", startDate=str(TODAY - timedelta(days=2)), endDate=str(TODAY))
    assert response.status_code == 200, response.text
    stats = response.json()["stats"]
    assert stats["consultationsNotReady"] > 0
    assert stats["casesFailed"] == 0
    assert stats["casesSkipped"] >= stats["consultationsNotReady"]
    refused = [
        c
        for c in stack.cases().values()
        if consultation_id_of(c["metadata"])
        and "pimsConsultation" not in c["metadata"]
        and c["scheduled_at"] >= wall_to_utc(f"{TODAY} 00:00:00")  # today's, not finished
    ]
    assert refused
    consultation_id = consultation_id_of(refused[0]["metadata"])
    note = "<p>Written after the run: wild-marker-4410</p>"
    stack.control.post(f"/consultations/{consultation_id}/notes", {"notes": note})
    again = stack.sync("cases", startDate=str(TODAY - timedelta(days=2)), endDate=str(TODAY))
    assert again.status_code == 200, again.text
    assert again.json()["stats"]["consultationsNotReady"] == stats["consultationsNotReady"] - 1
    written = stack.cases()[refused[0]["external_id"]]["metadata"]["pimsConsultation"]
    assert written["notesText"] == "Written after the run: wild-marker-4410"


@pytest.mark.parametrize("phase", ["reconcile", "inbound"])
def test_a_calendar_refusal_fails_clearly_and_deletes_nothing(stack: Stack, phase: str) -> None:
    before = fingerprints(stack)
    stack.control.post("/faults", {"endpoint": "calendar", "refusal": True})
    response = stack.sync(phase, lookbackDays=2) if phase == "reconcile" else stack.sync(phase)
    assert response.status_code == 502, response.text
    error = response.json()
    assert error["code"] == "pims_unavailable", error
    assert "refused" in error["error"], error
    assert fingerprints(stack) == before
    assert not [c for c in stack.cases().values() if "reconciliation" in c["metadata"]]
