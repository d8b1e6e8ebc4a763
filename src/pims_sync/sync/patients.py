"""The `patients` row of a case, built from its merged metadata."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pims_sync.domain.case_metadata import stored_appointment
from pims_sync.ports.store import PatientRow


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def patient_row(metadata: Mapping[str, Any]) -> PatientRow:
    """The row from `entities.patient` (name, species, breed) and the PIMS client."""
    patient = _mapping(_mapping(metadata.get("entities")).get("patient"))
    # The appointment's client is what the PIMS says (no "Unknown" placeholder);
    # rows written before `pimsAppointment` existed fall back to the entity's owner.
    client = _mapping(stored_appointment(metadata).get("client")) or _mapping(patient.get("owner"))
    return PatientRow(
        name=_text(patient.get("name")) or "Unknown",
        species=_text(patient.get("species")) or "unknown",
        breed=_text(patient.get("breed")),
        owner_name=_text(client.get("name")),
        owner_phone=_text(client.get("phone")),
        owner_email=_text(client.get("email")),
    )
