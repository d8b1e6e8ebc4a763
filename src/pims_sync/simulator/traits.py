"""How the real site may say the same world differently: the "in the wild" trait settings.

Traits change the representation, never the world (docs/simulator.md, Profiles). Value
traits (statuses in lower case, names in title case) change what an event says and are
part of the control API's listing; encoding traits (string ids, an event id unequal to the
appointment id, flags as 0/1 or "0"/"1") change only how the feed serves it. Every function
here mutates the freshly built JSON it is given and returns it.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from pims_sync.simulator.config import RuntimeSettings
from pims_sync.simulator.dataset import Visit

Json = dict[str, Any]
EVENT_ID_FIELDS = (
    "id",
    "appointment_id",
    "consultation_id",
    "patient_id",
    "client_id",
    "appointment_room_id",
)
EVENT_FLAGS = (
    "is_block",
    "is_roster",
    "recurring",
    "darkFont",
    "is_unmatched",
    "audit_incomplete",
    "is_valid_mobile_phone",
)
PAGE_DATA_IDS = ("consultation", "patient", "client")
REFUSAL = {"success": False, "message": "Consultation is not finalised"}
_PARAGRAPH = re.compile(r"<p>.*?</p>", re.DOTALL)


def status_text(status: str | None, appointment_id: int) -> str | None:
    """A status as the real site may write it: lower case, later days `not arrived`."""
    if status is None:
        return None
    if status == "Scheduled":
        return "not arrived"  # what the original's captured data shows for later days
    if status == "Finalized" and appointment_id % 2 == 0:
        return "FINALIZED"  # some in upper case: statuses must be matched ignoring case
    return status.lower()


def name_text(name: Any) -> Any:
    """A stored upper-case name in title case ("PENNY" → "Penny"); other values unchanged."""
    return name.title() if isinstance(name, str) else name


def shown_event(event: Json, settings: RuntimeSettings) -> Json:
    """The value traits of one calendar event (lower-case statuses, title-case names)."""
    if settings.lower_case_statuses and event.get("current_status") is not None:
        status = status_text(event["current_status"], int(event["appointment_id"]))
        event["current_status"] = event["status_label"] = status
        event["status_class"] = status.lower().replace(" ", "-") if status else None
    if settings.mixed_case_names and event.get("patient_name") is not None:
        for key in ("patient_name", "first_name", "last_name"):
            event[key] = name_text(event.get(key))
        if event.get("client_id") is not None:
            event["title"] = f"{event['patient_name']}; {event['last_name']}, {event['first_name']}"
    return event


def served_event(event: Json, settings: RuntimeSettings) -> Json:
    """The encoding traits of one calendar event (string ids, unequal ids, numeric flags)."""
    appointment = event.get("appointment_id")
    if settings.string_ids:
        for key in EVENT_ID_FIELDS:
            if event.get(key) is not None:
                event[key] = str(event[key])
    if settings.unequal_ids:
        event["id"] = f"ev-{appointment}"  # the calendar event's own id
    if settings.flags_as_numbers:
        as_text = int(appointment or 0) % 2 == 1  # numbers for some events, strings for others
        for key in EVENT_FLAGS:
            if isinstance(event.get(key), bool):
                number = int(event[key])
                event[key] = str(number) if as_text else number
    return event


def encodes_events(settings: RuntimeSettings) -> bool:
    """Whether any encoding trait is on (so the standard profile skips the pass)."""
    return settings.string_ids or settings.unequal_ids or settings.flags_as_numbers


def page_data(data: Json, visit: Visit, settings: RuntimeSettings) -> Json:
    """The traits of one consultation's page-data: string ids, names, where the note is."""
    if settings.string_ids:
        for key in PAGE_DATA_IDS:
            part = data.get(key)
            if isinstance(part, dict) and part.get("id") is not None:
                part["id"] = str(part["id"])
    if settings.mixed_case_names:
        _title_names(data.get("patient"), ("name",))
        _title_names(data.get("client"), ("firstName", "lastName"))
    if data["consultation"]["status"] == "completed" and "consultationNotes" in data:
        _move_notes(data, visit, settings)
    return data


def _move_notes(data: Json, visit: Visit, settings: RuntimeSettings) -> None:
    """Some finished consultations keep the note elsewhere (by consultation id modulo 5)."""
    consultation_id = int(visit.consultation_id or 0)
    notes = data["consultationNotes"].get("notes") or ""
    if settings.discharge_only_notes and consultation_id % 5 == 0:
        data["consultation"]["dischargeSummary"] = notes
        del data["consultationNotes"]
    elif settings.list_notes and consultation_id % 5 == 1:
        written = visit.end + timedelta(minutes=visit.notes_delay_minutes)
        data["consultationNotes"] = note_list(notes, consultation_id, written)


def note_list(notes: str, consultation_id: int, written: datetime) -> list[Json]:
    """A note split into two note objects (by paragraph); joined again they are the note."""
    paragraphs = _PARAGRAPH.findall(notes)
    if len(paragraphs) < 2 or "".join(paragraphs) != notes:
        parts = [notes]
    else:
        half = (len(paragraphs) + 1) // 2
        parts = ["".join(paragraphs[:half]), "".join(paragraphs[half:])]
    return [
        {
            "id": consultation_id * 10 + number,
            "notes": part,
            "createdAt": (written + timedelta(minutes=number)).strftime("%Y-%m-%dT%H:%M:%S"),
        }
        for number, part in enumerate(parts)
    ]


def search_patient(patient: Json, settings: RuntimeSettings) -> Json:
    """A search result with the names in title case when that trait is on."""
    if settings.mixed_case_names:
        _title_names(patient, ("name",))
        _title_names(patient.get("client"), ("firstName", "lastName"))
    return patient


def appointment_details(details: Json, settings: RuntimeSettings) -> Json:
    """getAppointment with the names in title case when that trait is on."""
    patient = details["appointment"].get("patient")
    if settings.mixed_case_names and isinstance(patient, dict):
        _title_names(patient, ("name",))
        _title_names(patient.get("client"), ("firstName", "lastName"))
    return details


def _title_names(part: Any, keys: tuple[str, ...]) -> None:
    if isinstance(part, dict):
        for key in keys:
            part[key] = name_text(part.get(key))
