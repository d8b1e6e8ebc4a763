"""Case metadata: what inbound, enrichment and reconciliation write, and how they merge.

Every writer merges into the stored metadata: keys it does not own (another phase's,
`callIntelligence`, unknown ones) are always kept (docs/pipeline.md#inbound).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import Appointment
from pims_sync.domain.cases import map_type
from pims_sync.domain.consultations import FINAL_STATUSES, Consultation, html_to_text
from pims_sync.domain.instants import iso

SYNC_SOURCE = "IDEXX Neo"
REMOVED_FROM_PIMS = "removed_from_pims"
# Notes written after this long are not waited for: a non-final consultation older
# than this is no longer re-fetched (docs/pipeline.md#cases-enrichment).
STALE_NOTES_WINDOW = timedelta(hours=72)

_SPECIES_WORDS = (
    ("dog", ("dog", "canine")),
    ("cat", ("cat", "feline")),
    ("bird", ("bird", "avian")),
    ("rabbit", ("rabbit", "bunny")),
)

Metadata = dict[str, Any]


def normalise_species(raw: str | None) -> str:
    """dog, cat, bird, rabbit, other, or unknown when the PIMS says nothing."""
    if not raw:
        return "unknown"
    lowered = raw.lower()
    for species, words in _SPECIES_WORDS:
        if any(word in lowered for word in words):
            return species
    return "other"


def appointment_document(appointment: Appointment, zone: ZoneInfo) -> Metadata:
    """The normalised appointment (`metadata.pimsAppointment`): camelCase, clinic-zone times."""
    start = appointment.start.astimezone(zone)
    patient, client = appointment.patient, appointment.client
    return {
        "id": appointment.appointment_id,
        "consultationId": appointment.consultation_id,
        "date": start.date().isoformat(),
        "startTime": start.isoformat(),
        "endTime": appointment.end.astimezone(zone).isoformat(),
        "duration": appointment.duration_minutes,
        "status": appointment.status,
        "patient": {
            "id": patient.id,
            "name": patient.name,
            "species": patient.species,
            "breed": patient.breed,
        },
        "client": {
            "id": client.id,
            "name": client.full_name,
            "phone": client.phone,
            "email": client.email,
        },
        "provider": {"id": appointment.room_id, "name": appointment.provider_name},
        "room": {"id": appointment.room_id, "name": appointment.room_name},
        "type": appointment.type_description,
        "reason": appointment.reason,
    }


def _patient_entity(appointment: Appointment, stored: object) -> Metadata:
    """`entities.patient` from the appointment, species/breed kept when it has none."""
    owner: Metadata = {"name": appointment.client.full_name or "Unknown"}
    if appointment.client.phone:
        owner["phone"] = appointment.client.phone
    if appointment.client.email:
        owner["email"] = appointment.client.email
    patient: Metadata = {
        "name": appointment.patient.name or "Unknown",
        "species": normalise_species(appointment.patient.species),
        "owner": owner,
    }
    if appointment.patient.breed:
        patient["breed"] = appointment.patient.breed
    # The calendar never carries species/breed; what enrichment read from the
    # consultation must survive the next inbound update.
    if isinstance(stored, Mapping):
        species, breed = stored.get("species"), stored.get("breed")
        if not appointment.patient.species and isinstance(species, str) and species:
            patient["species"] = species
        if not appointment.patient.breed and isinstance(breed, str) and breed:
            patient["breed"] = breed
    return patient


def _entities(stored: Mapping[str, Any], appointment: Appointment) -> Metadata:
    """Entities: patient/owner/case type from the PIMS; `clinical` kept once enriched."""
    existing = stored.get("entities")
    entities: Metadata = dict(existing) if isinstance(existing, Mapping) else {}
    clinical_value = entities.get("clinical")
    clinical: Metadata = dict(clinical_value) if isinstance(clinical_value, Mapping) else {}
    # Before enrichment the appointment's reason is the best visit reason we have;
    # afterwards the consultation's wins and inbound leaves `clinical` alone.
    if "pimsConsultation" not in stored:
        clinical.pop("visitReason", None)
        if appointment.reason:
            clinical["visitReason"] = appointment.reason
    entities.update(
        patient=_patient_entity(appointment, entities.get("patient")),
        clinical=clinical,
        caseType=map_type(appointment.type_description).value,
    )
    return entities


def merge_inbound(
    stored: Mapping[str, Any], appointment: Appointment, *, zone: ZoneInfo, now: datetime
) -> Metadata:
    """The stored metadata with inbound's keys rewritten and every other key kept."""
    merged: Metadata = dict(stored)
    merged["pimsAppointment"] = appointment_document(appointment, zone)
    merged["entities"] = _entities(stored, appointment)
    merged["syncedAt"] = iso(now)
    merged["syncSource"] = SYNC_SOURCE
    return merged


def stored_appointment(metadata: Mapping[str, Any]) -> Mapping[str, Any]:
    """The stored `pimsAppointment` (empty when there is none)."""
    value = metadata.get("pimsAppointment")
    return value if isinstance(value, Mapping) else {}


def stored_pims_status(metadata: Mapping[str, Any]) -> str | None:
    """The PIMS status as last written by inbound."""
    status = stored_appointment(metadata).get("status")
    return status if isinstance(status, str) else None


def pims_changed(metadata: Mapping[str, Any], appointment: Appointment, *, zone: ZoneInfo) -> bool:
    """Whether anything the PIMS says about the appointment differs from what we stored."""
    return dict(stored_appointment(metadata)) != appointment_document(appointment, zone)


# --- enrichment ---------------------------------------------------------------------


def _joined(labels: list[str]) -> str | None:
    return "; ".join(labels) or None


def clinical_notes(consultation: Consultation) -> str | None:
    """The clinical note: IDEXX keeps it as HTML in `consultationNotes`, rarely in `notes`."""
    return consultation.notes_html or consultation.notes or None


def discharge_summary(consultation: Consultation) -> str | None:
    """The discharge summary, else the clinical note, as the original filled it.

    IDEXX seldom sends `dischargeSummary`; downstream discharge calls read this key.
    """
    return consultation.discharge_summary or clinical_notes(consultation)


def consultation_document(consultation: Consultation, *, fetched_at: datetime) -> Metadata:
    """`metadata.pimsConsultation`: notes as given and as text, lines, status, finality."""
    return {
        "id": consultation.id,
        "notes": consultation.notes,
        "notesHtml": consultation.notes_html,
        "notesText": consultation.notes_text
        or html_to_text(consultation.notes_html or consultation.notes),
        "dischargeSummary": discharge_summary(consultation),
        "productsServices": _joined([line.label for line in consultation.accepted_lines]),
        "declinedProductsServices": _joined([line.label for line in consultation.declined_lines]),
        "reason": consultation.reason,
        "status": consultation.status,
        "date": consultation.date,
        "isFinal": consultation.is_final,
        "fetchedAt": iso(fetched_at),
    }


def merge_enrichment(
    stored: Mapping[str, Any], consultation: Consultation, *, now: datetime
) -> Metadata:
    """The stored metadata with the consultation written in and every other key kept."""
    merged: Metadata = dict(stored)
    merged["pimsConsultation"] = consultation_document(consultation, fetched_at=now)
    entities_value = stored.get("entities")
    entities: Metadata = dict(entities_value) if isinstance(entities_value, Mapping) else {}
    clinical_value = entities.get("clinical")
    clinical: Metadata = dict(clinical_value) if isinstance(clinical_value, Mapping) else {}
    notes = clinical_notes(consultation)
    if notes:
        clinical["clinicalNotes"] = notes
    if consultation.reason:
        clinical["visitReason"] = consultation.reason
    clinical["productsServicesProvided"] = [line.label for line in consultation.accepted_lines]
    clinical["productsServicesDeclined"] = [line.label for line in consultation.declined_lines]
    entities["clinical"] = clinical
    _record_patient_facts(entities, consultation)
    merged["entities"] = entities
    merged["dischargeSummary"] = discharge_summary(consultation)
    merged["enrichedAt"] = iso(now)
    return merged


def _record_patient_facts(entities: Metadata, consultation: Consultation) -> None:
    """Species and breed from the consultation: the calendar feed never has them."""
    if not consultation.patient_species and not consultation.patient_breed:
        return
    value = entities.get("patient")
    patient: Metadata = dict(value) if isinstance(value, Mapping) else {}
    if consultation.patient_species:
        patient["species"] = normalise_species(consultation.patient_species)
    if consultation.patient_breed:
        patient["breed"] = consultation.patient_breed
    entities["patient"] = patient


def consultation_id_of(metadata: Mapping[str, Any]) -> str | None:
    """The consultation id inbound recorded for the case, if any."""
    value = stored_appointment(metadata).get("consultationId")
    return str(value) if value not in (None, "") else None


def _is_final(document: Mapping[str, Any]) -> bool:
    flag = document.get("isFinal")
    if isinstance(flag, bool):
        return flag
    # Rows enriched by the original carry no flag: judge by the status it stored.
    status = document.get("status")
    return isinstance(status, str) and status.strip().lower() in FINAL_STATUSES


def needs_enrichment(
    metadata: Mapping[str, Any], *, scheduled_at: datetime | None, now: datetime
) -> bool:
    """Whether the case's consultation should be fetched (again) now (docs/pipeline.md)."""
    consultation_id = consultation_id_of(metadata)
    if consultation_id is None or is_soft_deleted(metadata):
        return False
    document = metadata.get("pimsConsultation")
    if not isinstance(document, Mapping) or str(document.get("id")) != consultation_id:
        return True
    if _is_final(document):
        return False
    return scheduled_at is not None and now - scheduled_at < STALE_NOTES_WINDOW


# --- reconciliation -----------------------------------------------------------------


def is_soft_deleted(metadata: Mapping[str, Any]) -> bool:
    """Whether reconciliation marked the case as removed from the PIMS."""
    marker = metadata.get("reconciliation")
    return isinstance(marker, Mapping) and marker.get("softDeleted") is True


def soft_delete(
    metadata: Mapping[str, Any], *, previous_status: str, sync_id: str, at: datetime
) -> Metadata:
    """The metadata with the soft-delete marker (the status becomes `reviewed` beside it)."""
    merged: Metadata = dict(metadata)
    merged["reconciliation"] = {
        "softDeleted": True,
        "reason": REMOVED_FROM_PIMS,
        "deletedAt": iso(at),
        "syncId": sync_id,
        "previousStatus": previous_status,
    }
    return merged


def restore(metadata: Mapping[str, Any], *, fallback_status: str) -> tuple[Metadata, str]:
    """The metadata without the marker, and the status the case had before deletion."""
    merged: Metadata = dict(metadata)
    marker = merged.pop("reconciliation", None)
    previous = marker.get("previousStatus") if isinstance(marker, Mapping) else None
    return merged, previous if isinstance(previous, str) and previous else fallback_status
