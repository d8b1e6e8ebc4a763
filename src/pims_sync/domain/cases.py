"""Cases: how an appointment's PIMS status and type become a case's (docs/pipeline.md#inbound)."""

from __future__ import annotations

import re
from enum import StrEnum

SOURCE_IDEXX_NEO = "pims:idexx-neo"
EXTERNAL_ID_PREFIX = "pims-appt-idexx-neo-"


class CaseStatus(StrEnum):
    """Where a case stands."""

    DRAFT = "draft"
    ONGOING = "ongoing"
    COMPLETED = "completed"
    REVIEWED = "reviewed"


class CaseType(StrEnum):
    """What kind of visit a case is."""

    CHECKUP = "checkup"
    EMERGENCY = "emergency"
    SURGERY = "surgery"
    FOLLOW_UP = "follow_up"


_STATUS_WORDS: dict[str, CaseStatus] = {
    "scheduled": CaseStatus.DRAFT,
    "confirmed": CaseStatus.DRAFT,
    "not arrived": CaseStatus.DRAFT,
    "arrived": CaseStatus.ONGOING,
    "checked in": CaseStatus.ONGOING,
    "in progress": CaseStatus.ONGOING,
    "completed": CaseStatus.COMPLETED,
    "finalized": CaseStatus.COMPLETED,
    "discharged": CaseStatus.COMPLETED,
    "ready to pay": CaseStatus.COMPLETED,
    "cancelled": CaseStatus.REVIEWED,
    "canceled": CaseStatus.REVIEWED,
    "no show": CaseStatus.REVIEWED,
}

_TYPE_WORDS: tuple[tuple[CaseType, tuple[str, ...]], ...] = (
    (CaseType.EMERGENCY, ("emergency", "urgent")),
    (CaseType.FOLLOW_UP, ("follow up", "recheck")),
    (CaseType.SURGERY, ("surgery", "dental", "procedure")),
    (
        CaseType.CHECKUP,
        ("exam", "checkup", "check up", "wellness", "vaccination", "consultation", "diagnostic"),
    ),
)


def normalise_words(raw: str) -> str:
    """Lower case, with spaces, underscores and hyphens all one space."""
    return re.sub(r"[\s_\-]+", " ", raw.strip().lower())


def is_known_status(raw: str | None) -> bool:
    """Whether the PIMS status is one the map knows (unknown ones are logged once)."""
    return raw is not None and normalise_words(raw) in _STATUS_WORDS


def map_status(raw: str | None) -> CaseStatus:
    """The case status for a PIMS appointment status; unknown → draft."""
    if raw is None:
        return CaseStatus.DRAFT
    return _STATUS_WORDS.get(normalise_words(raw), CaseStatus.DRAFT)


def map_type(raw: str | None) -> CaseType:
    """The case type for a PIMS appointment type; anything else → checkup."""
    if raw is None:
        return CaseType.CHECKUP
    words = normalise_words(raw)
    for case_type, keywords in _TYPE_WORDS:
        if any(keyword in words for keyword in keywords):
            return case_type
    return CaseType.CHECKUP


def external_id(appointment_id: str) -> str:
    """The key that ties a case to its IDEXX Neo appointment."""
    return f"{EXTERNAL_ID_PREFIX}{appointment_id}"


def follow_pims_status(
    *, stored: str, previous_pims_status: str | None, new_pims_status: str | None
) -> str:
    """The status to store: the PIMS's, unless someone else changed the case since."""
    if stored != map_status(previous_pims_status):
        return stored
    return map_status(new_pims_status).value


def follow_pims_type(
    *, stored: str, previous_pims_type: str | None, new_pims_type: str | None
) -> str:
    """The type to store: the PIMS's, unless someone else changed the case since."""
    if stored != map_type(previous_pims_type):
        return stored
    return map_type(new_pims_type).value
