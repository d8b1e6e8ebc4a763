"""IDEXX Neo JSON → domain objects; pure, and strict about implausible payloads."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import Appointment, CalendarPage, Client, Patient
from pims_sync.domain.consultations import Consultation, InvoiceLine, html_to_text
from pims_sync.errors import PimsPayloadError

CALENDAR_ENVELOPES = ("appointments", "data", "events")
DEFAULT_DURATION = timedelta(minutes=15)
WALL_CLOCK_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M")

Json = Mapping[str, object]


def text(value: object) -> str | None:
    """A non-empty string (numbers become text), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int | float | str):
        result = str(value).strip()
        return result or None
    return None


def number(value: object) -> float | None:
    """A number (numeric strings accepted), else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def parse_wall_clock(value: object, zone: ZoneInfo) -> datetime | None:
    """Clinic wall-clock text (`YYYY-MM-DD HH:MM:SS`) → an aware instant in `zone`."""
    raw = text(value)
    if raw is None:
        return None
    for fmt in WALL_CLOCK_FORMATS:
        try:
            return datetime.strptime(raw[:19], fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


def calendar_events(payload: object) -> list[object]:
    """The event list of either envelope (bare array or `{appointments|data|events: [...]}`)."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        for key in CALENDAR_ENVELOPES:
            if isinstance(payload.get(key), list):
                return list(payload[key])
        keys = ", ".join(sorted(str(key) for key in payload)[:8]) or "none"
        raise PimsPayloadError(f"calendar payload has no event list (keys: {keys})")
    raise PimsPayloadError(f"calendar payload is a {type(payload).__name__}, not a list")


def parse_calendar(
    payload: object, zone: ZoneInfo, *, max_events: int | None = None
) -> CalendarPage:
    """Calendar feed → appointments; rosters and blocks dropped but counted."""
    events = calendar_events(payload)
    if max_events is not None and len(events) > max_events:
        raise PimsPayloadError(
            f"calendar returned {len(events)} events, more than the plausible {max_events}"
        )
    appointments: list[Appointment] = []
    blocks = rosters = 0
    for index, event in enumerate(events):
        if not isinstance(event, Mapping):
            raise PimsPayloadError(f"calendar event #{index} is not an object")
        if event.get("is_roster"):
            rosters += 1
        elif event.get("is_block"):
            blocks += 1
        else:
            appointments.append(parse_event(event, zone, index))
    return CalendarPage(tuple(appointments), blocks_dropped=blocks, rosters_dropped=rosters)


def parse_event(event: Json, zone: ZoneInfo, index: int = 0) -> Appointment:
    """One calendar event → an Appointment; an event without id or start is an error."""
    appointment_id = text(event.get("appointment_id")) or text(event.get("id"))
    if appointment_id is None:
        raise PimsPayloadError(f"calendar event #{index} has no appointment id")
    start = parse_wall_clock(event.get("start"), zone)
    if start is None:
        raise PimsPayloadError(f"calendar event #{index} has no readable start time")
    end = parse_wall_clock(event.get("end"), zone)
    if end is None or end <= start:
        end = start + DEFAULT_DURATION
    return Appointment(
        appointment_id=appointment_id,
        start=start,
        end=end,
        consultation_id=_consultation_id(event.get("consultation_id")),
        status=text(event.get("current_status")) or text(event.get("status_label")),
        patient=Patient(id=text(event.get("patient_id")), name=text(event.get("patient_name"))),
        client=Client(
            id=text(event.get("client_id")),
            first_name=text(event.get("first_name")),
            last_name=text(event.get("last_name")),
            phone=text(event.get("phone_number")),
            email=text(event.get("email")),
        ),
        provider_name=text(event.get("provider")) or text(event.get("popup_title_text")),
        room_id=text(event.get("resourceId")) or text(event.get("appointment_room_id")),
        room_name=text(event.get("appointment_room_name")),
        type_description=text(event.get("type_description")),
        reason=text(event.get("reason")),
    )


def _consultation_id(value: object) -> str | None:
    # IDEXX sends 0 or null until a consultation exists.
    raw = text(value)
    return None if raw in (None, "0") else raw


def parse_consultation(payload: object, consultation_id: str) -> Consultation:
    """Consultation page-data → a Consultation; no `consultation` object is an error."""
    if not isinstance(payload, Mapping):
        raise PimsPayloadError("consultation payload is not an object")
    consultation = payload.get("consultation")
    if not isinstance(consultation, Mapping):
        raise PimsPayloadError(f"consultation {consultation_id}: payload has no consultation")
    returned_id = text(consultation.get("id"))
    if returned_id is not None and returned_id != consultation_id:
        raise PimsPayloadError(
            f"asked for consultation {consultation_id}, got {returned_id} instead"
        )
    notes_html = text(_object(payload.get("consultationNotes")).get("notes"))
    patient = _object(payload.get("patient"))
    client = _object(payload.get("client"))
    return Consultation(
        id=consultation_id,
        status=text(consultation.get("status")) or "unknown",
        notes=text(consultation.get("notes")),
        notes_html=notes_html,
        notes_text=html_to_text(notes_html or text(consultation.get("notes"))),
        discharge_summary=text(consultation.get("dischargeSummary")),
        reason=text(consultation.get("reason")),
        date=text(consultation.get("date")),
        lines=tuple(_lines(payload.get("consultationLines"), consultation_id)),
        patient_name=text(patient.get("name")),
        patient_species=_named(patient.get("species")),
        patient_breed=_named(patient.get("breed")),
        client_first_name=text(client.get("firstName")),
        client_last_name=text(client.get("lastName")),
        client_phone=_phone(client),
        client_email=text(client.get("email")),
    )


def _object(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _named(value: object) -> str | None:
    # Species and breed are plain text here but `{id, name}` objects elsewhere on the site.
    return text(value.get("name")) if isinstance(value, Mapping) else text(value)


def _phone(client: Json) -> str | None:
    # Mobile first: the number most likely to take a call back.
    for key in ("mobilePhone", "phone", "phoneNumber", "homePhone", "workPhone"):
        if phone := text(client.get(key)):
            return phone
    return None


def _lines(value: object, consultation_id: str) -> list[InvoiceLine]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PimsPayloadError(f"consultation {consultation_id}: lines are not a list")
    lines = []
    for raw in value:
        if not isinstance(raw, Mapping):
            raise PimsPayloadError(f"consultation {consultation_id}: a line is not an object")
        name = text(raw.get("productService")) or text(raw.get("label"))
        if name is None:
            continue  # a line without a product is a UI spacer, not an item
        provider = _object(raw.get("provider"))
        lines.append(
            InvoiceLine(
                id=text(raw.get("id")),
                name=name,
                quantity=number(raw.get("quantity")),
                total_excluding_tax=number(raw.get("lineTotalExcTax")),
                sold_at=text(raw.get("soldAtLocal")),
                provider_name=text(provider.get("name")),
                declined=bool(raw.get("isDeclined")),
            )
        )
    return lines
