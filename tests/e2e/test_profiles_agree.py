"""The same simulated clinic read through both simulator profiles gives the same cases.

`wild` changes only how IDEXX Neo says things (labels, id types, letter case, where the
notes are, refusals for unfinished consultations) and adds multi-day stays; a full sync of
the same seed must therefore store the same cases, plus the stays.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pims_sync.domain.cases import external_id
from tests.conftest import migrated_database
from tests.e2e.sync_stack import TODAY, Stack, StackOptions, running_stack

pytestmark = pytest.mark.browser

WINDOW = {"daysAhead": 2, "lookbackDays": 2}


def _synced(tmp: Path, profile: str) -> tuple[dict[str, dict[str, Any]], set[str]]:
    """The cases of a full sync against `profile`, and the keys of its multi-day stays."""
    tmp.mkdir()
    with migrated_database("sqlite", tmp, profile) as url:
        stacks: Iterator[Stack] = running_stack(url, StackOptions(profile=profile))
        stack = next(stacks)
        try:
            response = stack.sync("full", **WINDOW)
            assert response.status_code == 200, response.text
            truth = stack.control.appointments(TODAY - timedelta(days=2), TODAY + timedelta(days=2))
            stays = {
                external_id(str(e["appointment_id"]))
                for e in truth
                if e["start"][:10] != e["end"][:10]
            }
            return {k: _essentials(c) for k, c in stack.cases().items()}, stays
        finally:
            stacks.close()


def _essentials(case: dict[str, Any]) -> dict[str, Any]:
    """What must agree: times, statuses, types, people (any letter case) and final notes."""
    patient = case["patient"]
    consultation = case["metadata"].get("pimsConsultation") or {}
    final = consultation.get("isFinal") is True
    return {
        "scheduled_at": case["scheduled_at"],
        "status": case["status"],
        "type": case["type"],
        "deleted": "reconciliation" in case["metadata"],
        **{k: (patient[k] or "").casefold() for k in ("name", "owner_name")},
        **{k: patient[k] for k in ("owner_phone", "owner_email")},
        "notes": " ".join(str(consultation.get("notesText") or "").split()) if final else None,
    }


def test_standard_and_wild_profiles_store_the_same_cases(tmp_path: Path) -> None:
    standard, no_stays = _synced(tmp_path / "standard", "standard")
    wild, stays = _synced(tmp_path / "wild", "wild")
    assert no_stays == set()
    assert stays, "the wild profile adds multi-day stays"
    assert len(standard) > 150
    assert set(wild) - set(standard) == stays
    assert set(standard) <= set(wild)
    both_final = [k for k in standard if standard[k]["notes"] and wild[k]["notes"]]
    assert len(both_final) > 50
    differing = [k for k in standard if _without_unread_notes(standard[k], wild[k])]
    assert differing == []
    # The notes themselves: the same text wherever both profiles read a final note.
    assert all(
        re.sub(r"\s+", " ", standard[k]["notes"]) == re.sub(r"\s+", " ", wild[k]["notes"])
        for k in both_final
    )


def _without_unread_notes(standard: dict[str, Any], wild: dict[str, Any]) -> bool:
    """Whether two cases differ in anything but notes one profile has not read final yet."""
    keys = set(standard) - {"notes"}
    if any(standard[k] != wild[k] for k in keys):
        return True
    return bool(standard["notes"] and wild["notes"] and standard["notes"] != wild["notes"])
