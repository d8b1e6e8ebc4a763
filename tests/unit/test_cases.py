"""Status and type maps, external ids, and the follow-the-PIMS rule."""

from __future__ import annotations

import pytest

from pims_sync.domain.cases import (
    CaseStatus,
    CaseType,
    external_id,
    follow_pims_status,
    is_known_status,
    map_status,
    map_type,
)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Scheduled", CaseStatus.DRAFT),
        ("confirmed", CaseStatus.DRAFT),
        ("not arrived", CaseStatus.DRAFT),
        ("Not_Arrived", CaseStatus.DRAFT),
        ("arrived", CaseStatus.ONGOING),
        ("Checked-In", CaseStatus.ONGOING),
        ("In Progress", CaseStatus.ONGOING),
        ("in_progress", CaseStatus.ONGOING),
        ("Finalized", CaseStatus.COMPLETED),
        ("completed", CaseStatus.COMPLETED),
        ("Discharged", CaseStatus.COMPLETED),
        ("Ready to Pay", CaseStatus.COMPLETED),
        ("Cancelled", CaseStatus.REVIEWED),
        ("canceled", CaseStatus.REVIEWED),
        ("No Show", CaseStatus.REVIEWED),
        ("no-show", CaseStatus.REVIEWED),
        ("Something New", CaseStatus.DRAFT),
        (None, CaseStatus.DRAFT),
    ],
)
def test_status_map(raw: str | None, expected: CaseStatus) -> None:
    assert map_status(raw) is expected


def test_unknown_status_is_flagged() -> None:
    assert is_known_status("Finalized")
    assert not is_known_status("Teleported")
    assert not is_known_status(None)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("Exam", CaseType.CHECKUP),
        ("Wellness Visit", CaseType.CHECKUP),
        ("Vaccination", CaseType.CHECKUP),
        ("Dental Cleaning", CaseType.SURGERY),
        ("Surgery - Spay", CaseType.SURGERY),
        ("Procedure", CaseType.SURGERY),
        ("Emergency", CaseType.EMERGENCY),
        ("URGENT CARE", CaseType.EMERGENCY),
        ("Follow-up", CaseType.FOLLOW_UP),
        ("Recheck", CaseType.FOLLOW_UP),
        ("Grooming", CaseType.CHECKUP),
        (None, CaseType.CHECKUP),
    ],
)
def test_type_map(raw: str | None, expected: CaseType) -> None:
    assert map_type(raw) is expected


def test_external_id() -> None:
    assert external_id("351412") == "pims-appt-idexx-neo-351412"


def test_status_follows_the_pims_while_nobody_else_changed_it() -> None:
    assert (
        follow_pims_status(
            stored="draft", previous_pims_status="Scheduled", new_pims_status="arrived"
        )
        == "ongoing"
    )


def test_status_set_by_another_writer_is_kept() -> None:
    assert (
        follow_pims_status(
            stored="completed", previous_pims_status="Scheduled", new_pims_status="arrived"
        )
        == "completed"
    )
