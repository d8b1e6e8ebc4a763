"""Pure metadata rules: build, compare, merge, enrich, soft-delete, restore."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.domain.case_metadata import (
    appointment_document,
    is_soft_deleted,
    merge_enrichment,
    merge_inbound,
    needs_enrichment,
    normalise_species,
    pims_changed,
    restore,
    soft_delete,
)
from pims_sync.domain.cases import follow_pims_type
from pims_sync.domain.consultations import Consultation

from .conftest import LA, NOW, appointment, consultation


def test_appointment_document_is_camel_case_with_offsets() -> None:
    document = appointment_document(appointment("5", hour=8, consultation_id="c5"), LA)
    assert document["startTime"] == "2026-03-09T08:00:00-07:00"
    assert document["endTime"] == "2026-03-09T08:30:00-07:00"
    assert (document["date"], document["duration"], document["consultationId"]) == (
        "2026-03-09",
        30,
        "c5",
    )
    assert document["client"]["name"] == "Ann Lee"
    assert document["provider"] == {"id": "9", "name": "Dr Who"}


def test_merge_inbound_keeps_foreign_keys_and_enriched_clinical() -> None:
    stored = {
        "callIntelligence": {"a": 1},
        "pimsConsultation": {"id": "c"},
        "reconciliation": {"softDeleted": False},
        "entities": {"clinical": {"visitReason": "From notes"}, "custom": True},
    }
    merged = merge_inbound(stored, appointment("1"), zone=LA, now=NOW)
    assert merged["callIntelligence"] == {"a": 1}
    assert merged["reconciliation"] == {"softDeleted": False}
    assert merged["entities"]["clinical"] == {"visitReason": "From notes"}
    assert merged["entities"]["custom"] is True
    assert merged["entities"]["caseType"] == "checkup"
    assert merged["syncSource"] == "IDEXX Neo"


def test_visit_reason_follows_the_appointment_until_enriched() -> None:
    first = merge_inbound({}, appointment("1", reason="A"), zone=LA, now=NOW)
    second = merge_inbound(first, appointment("1", reason="B"), zone=LA, now=NOW)
    assert second["entities"]["clinical"] == {"visitReason": "B"}


def test_change_detection_ignores_synced_at() -> None:
    stored = merge_inbound({}, appointment("1"), zone=LA, now=NOW)
    assert not pims_changed(stored, appointment("1"), zone=LA)
    assert pims_changed(stored, appointment("1", provider_name="Dr No"), zone=LA)
    assert pims_changed(stored, appointment("1", type_description="Surgery"), zone=LA)


def test_enrichment_patch() -> None:
    stored = {"entities": {"patient": {"name": "Rex"}}, "other": 1}
    merged = merge_enrichment(stored, consultation("c1"), now=NOW)
    assert merged["other"] == 1
    assert merged["entities"]["patient"] == {"name": "Rex"}
    assert merged["entities"]["clinical"]["clinicalNotes"] == "<p>Ok</p>"
    assert merged["pimsConsultation"]["fetchedAt"] == "2026-03-10T05:00:00.000Z"


@pytest.mark.parametrize(
    ("document", "age_hours", "expected"),
    [
        (None, 1, True),
        ({"id": "c1", "isFinal": True}, 1, False),
        ({"id": "c1", "isFinal": False}, 1, True),
        ({"id": "c1", "isFinal": False}, 80, False),
        ({"id": "c1", "status": "Finalized"}, 1, False),  # written by the original
        ({"id": "old", "isFinal": True}, 1, True),  # consultation id changed
    ],
)
def test_needs_enrichment(
    document: dict[str, object] | None, age_hours: int, expected: bool
) -> None:
    metadata: dict[str, object] = {"pimsAppointment": {"consultationId": "c1"}}
    if document is not None:
        metadata["pimsConsultation"] = document
    scheduled = NOW - timedelta(hours=age_hours)
    assert needs_enrichment(metadata, scheduled_at=scheduled, now=NOW) is expected


def test_soft_deleted_cases_are_not_enriched_and_restore_brings_the_status_back() -> None:
    metadata = soft_delete(
        {"pimsAppointment": {"consultationId": "c1"}, "x": 1},
        previous_status="completed",
        sync_id="s",
        at=datetime(2026, 3, 9, tzinfo=UTC),
    )
    assert is_soft_deleted(metadata)
    assert not needs_enrichment(metadata, scheduled_at=NOW, now=NOW)
    restored, status = restore(metadata, fallback_status="reviewed")
    assert status == "completed"
    assert not is_soft_deleted(restored)
    assert restored["x"] == 1


def test_species_and_type_rules() -> None:
    assert [normalise_species(s) for s in (None, "Canine", "Feline DSH", "Iguana")] == [
        "unknown",
        "dog",
        "cat",
        "other",
    ]
    assert follow_pims_type(stored="surgery", previous_pims_type="Exam", new_pims_type="Exam") == (
        "surgery"
    )
    assert follow_pims_type(
        stored="checkup", previous_pims_type="Exam", new_pims_type="Dental"
    ) == ("surgery")


def test_enrichment_reads_the_html_note_where_idexx_keeps_it() -> None:
    # IDEXX sends `consultation.notes` empty and the SOAP note as HTML in consultationNotes.
    as_idexx_sends_it = Consultation(
        id="c2",
        status="completed",
        notes=None,
        notes_html="<p>S: Bright</p>",
        notes_text="S: Bright",
    )
    merged = merge_enrichment({}, as_idexx_sends_it, now=NOW)
    assert merged["entities"]["clinical"]["clinicalNotes"] == "<p>S: Bright</p>"
    assert merged["pimsConsultation"]["notesHtml"] == "<p>S: Bright</p>"
    assert merged["pimsConsultation"]["notesText"] == "S: Bright"
    # No discharge summary from the PIMS: the clinical note stands in, as in the original.
    assert merged["dischargeSummary"] == "<p>S: Bright</p>"
    with_summary = replace(as_idexx_sends_it, discharge_summary="Rest for a week")
    assert merge_enrichment({}, with_summary, now=NOW)["dischargeSummary"] == "Rest for a week"
