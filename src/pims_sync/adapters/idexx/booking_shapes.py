"""IDEXX's booking JSON: the payloads we send and the answers we read (docs/idexx.md).

Read leniently, as the calendar is (ids as numbers or text, missing optional fields); a
payload without what the call is for (no patient list, no appointment, no new id) is a
PimsPayloadError, never an empty result. Messages name fields, never values.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import time
from typing import Any
from zoneinfo import ZoneInfo

from pims_sync.adapters.idexx.parsing import id_text, number, parse_wall_clock, text
from pims_sync.domain.pims_writes import (
    AppointmentDetails,
    AppointmentRequest,
    AppointmentType,
    AppointmentView,
    BusinessHours,
    NewClient,
    NewPatient,
    PatientMatch,
    PimsClient,
    PimsPatient,
    PimsRef,
    Provider,
    Room,
    wall_clock_slot,
)
from pims_sync.errors import PimsNotFoundError, PimsPayloadError

Json = dict[str, Any]


def _object(value: object) -> Json:
    return dict(value) if isinstance(value, Mapping) else {}


def _ref(value: object) -> PimsRef | None:
    """A `{id, name}` lookup value; a bare name is kept without an id."""
    if isinstance(value, Mapping):
        name = text(value.get("name"))
        return PimsRef(id_text(value.get("id")), name) if name else None
    name = text(value)
    return PimsRef(None, name) if name else None


def _client(value: object) -> PimsClient | None:
    raw = _object(value)
    client_id = id_text(raw.get("id"))
    if client_id is None:
        return None
    return PimsClient(
        id=client_id,
        first_name=text(raw.get("firstName")),
        last_name=text(raw.get("lastName")),
        mobile_phone=text(raw.get("mobilePhone")),
        home_phone=text(raw.get("homePhone")),
        work_phone=text(raw.get("workPhone")),
        email=text(raw.get("email")),
    )


# --- search ---------------------------------------------------------------------------------


def parse_search(payload: object, limit: int) -> list[PatientMatch]:
    """`results.suggested.objects` then `results.patients.objects`, each patient once."""
    found: dict[str, PatientMatch] = {}
    for item in _search_objects(payload):
        match = _match(item)
        if match is not None and match.patient_id not in found:
            found[match.patient_id] = match
    return list(found.values())[:limit]


def _search_objects(payload: object) -> list[object]:
    if isinstance(payload, list):
        return payload
    results = _object(payload).get("results")
    if not isinstance(results, Mapping):
        raise PimsPayloadError("IDEXX Neo search: no `results` object in the answer")
    objects: list[object] = []
    for group in ("suggested", "patients"):
        part = _object(results.get(group))
        for key in ("objects", "data"):
            listed = part.get(key)
            if isinstance(listed, list):
                objects.extend(listed)
    if not any(isinstance(results.get(group), Mapping) for group in ("suggested", "patients")):
        raise PimsPayloadError("IDEXX Neo search: neither `suggested` nor `patients` listed")
    return objects


def _match(item: object) -> PatientMatch | None:
    raw = _object(item)
    patient_id = id_text(raw.get("id"))
    if patient_id is None:
        return None
    client = _client(raw.get("client"))
    patient = PimsPatient(
        id=patient_id,
        name=text(raw.get("name")),
        species=_ref(raw.get("species")),
        breed=_ref(raw.get("breed")),
        gender=_ref(raw.get("gender")),
        client_id=client.id if client else None,
    )
    active = raw.get("active")
    return PatientMatch(patient, client, age=text(raw.get("age")), active=active is not False)


# --- the view -------------------------------------------------------------------------------


def parse_view(payload: object) -> AppointmentView:
    """`getAppointmentView`: types, rooms, providers, hours; a payload without them fails."""
    raw = _object(payload)
    lists = {key: raw.get(key) for key in ("appointmentTypes", "appointmentRooms", "providers")}
    if not all(isinstance(value, list) for value in lists.values()):
        raise PimsPayloadError(
            "IDEXX Neo view: appointmentTypes, appointmentRooms and providers must be lists"
        )
    slot = number(raw.get("slotInterval"))
    return AppointmentView(
        slot_minutes=int(slot) if slot and slot > 0 else None,
        types=tuple(_type(item) for item in _named_items(lists["appointmentTypes"])),
        rooms=tuple(_room(item) for item in _named_items(lists["appointmentRooms"])),
        providers=tuple(
            Provider(str(id_text(item["id"])), str(text(item["name"])))
            for item in _named_items(lists["providers"])
        ),
        business_hours=tuple(_hours(raw.get("businessHours"))),
    )


def _named_items(items: object) -> list[Json]:
    """The entries with an id and a name (others cannot be booked)."""
    listed = items if isinstance(items, list) else []
    return [
        dict(item)
        for item in listed
        if isinstance(item, Mapping) and id_text(item.get("id")) and text(item.get("name"))
    ]


def _type(item: Json) -> AppointmentType:
    duration = number(item.get("duration"))
    return AppointmentType(
        id=str(id_text(item["id"])),
        name=str(text(item["name"])),
        duration=int(duration) if duration is not None else None,
        color=text(item.get("color")),
    )


def _room(item: Json) -> Room:
    position = number(item.get("position"))
    return Room(
        str(id_text(item["id"])),
        str(text(item["name"])),
        int(position) if position is not None else None,
    )


def _hours(value: object) -> list[BusinessHours]:
    found = []
    for item in value if isinstance(value, list) else []:
        raw = _object(item)
        days = raw.get("daysOfWeek")
        start, end = _clock(raw.get("startTime")), _clock(raw.get("endTime"))
        if isinstance(days, list) and start is not None and end is not None:
            weekdays = frozenset(int(d) for d in days if isinstance(d, int) and 0 <= d <= 6)
            found.append(BusinessHours(weekdays, start, end))
    return found


def _clock(value: object) -> time | None:
    try:
        return time.fromisoformat(str(text(value)))
    except ValueError:
        return None


# --- one appointment ------------------------------------------------------------------------


def parse_details(payload: object, appointment_id: str, zone: ZoneInfo) -> AppointmentDetails:
    """`getAppointment`: `{appointment: {...}}`; without one, the PIMS has none."""
    raw = _object(payload).get("appointment")
    if not isinstance(raw, Mapping):
        raise PimsNotFoundError(f"IDEXX Neo appointment {appointment_id}: not found")
    returned = id_text(raw.get("id"))
    if returned is not None and returned != appointment_id:
        raise PimsPayloadError("IDEXX Neo appointment: another appointment's id answered")
    start = parse_wall_clock(raw.get("startAtLocal"), zone)
    end = parse_wall_clock(raw.get("endAtLocal"), zone)
    if start is None or end is None:
        raise PimsPayloadError("IDEXX Neo appointment: startAtLocal or endAtLocal unreadable")
    patient = _object(raw.get("patient"))
    client = _object(patient.get("client"))
    status = text(raw.get("status"))
    deleted = raw.get("deleted")
    return AppointmentDetails(
        appointment_id=appointment_id,
        start=start,
        end=end,
        status=status,
        cancelled=deleted is True or str(deleted).lower() in ("1", "true") or _cancelled(status),
        patient_id=id_text(patient.get("id")),
        client_id=id_text(client.get("id")),
        room_id=id_text(_object(raw.get("appointmentRoom")).get("id")),
        provider_id=id_text(_object(raw.get("provider")).get("id")),
        type_id=id_text(_object(raw.get("appointmentType")).get("id")),
        block=raw.get("block") is True,
        cancelled_reason=text(raw.get("cancelledReason")),
        booked_by=text(raw.get("bookedBy")),
        patient_name=text(patient.get("name")),
    )


def _cancelled(status: str | None) -> bool:
    return (status or "").casefold() in ("cancelled", "canceled")


# --- writes ---------------------------------------------------------------------------------


def appointment_form(request: AppointmentRequest, zone: ZoneInfo) -> dict[str, str]:
    """The multipart fields of `/appointments/create`, in the clinic's wall clock."""
    slot = wall_clock_slot(request, zone)
    form = {
        "patient_id": request.patient_id,
        "appointment_date": slot.day.isoformat(),
        "time": slot.start.strftime("%H:%M"),
        "time_end": slot.end.strftime("%H:%M"),
        "useRealEndTime": "true",
    }
    for field, value in (
        ("type_id", request.type_id),
        ("user_id", request.provider_id),
        ("room", request.room_id),
        ("reason", request.reason),
        ("note", request.note),
    ):
        if value:
            form[field] = value
    return form


def client_payload(new: NewClient) -> Json:
    """`/clients/create`'s JSON, camelCase, every field the site's form sends."""
    return {
        "firstName": new.first_name.strip(),
        "lastName": new.last_name.strip(),
        "title": new.title or "",
        "homePhone": new.home_phone or "",
        "workPhone": new.work_phone or "",
        "mobilePhone": new.mobile_phone or "",
        "email": new.email or "",
        "address1": new.address or "",
        "address2": "",
        "address3": "",
        "suburb": "",
        "city": new.city or "",
        "state": new.state or "",
        "postalCode": new.postal_code or "",
        "country": "",
    }


def patient_payload(new: NewPatient, client: PimsClient) -> Json:
    """`/patients/create`'s JSON: lookups as `{id, name}` objects, the owner as an object."""
    return {
        "name": new.name.strip(),
        "species": _ref_json(new.species),
        "breed": _ref_json(new.breed),
        "gender": _ref_json(new.gender),
        "color": new.color or "",
        "dob": new.date_of_birth.isoformat() if new.date_of_birth else "",
        "temperament": "",
        "microchip": "",
        "insuranceCompany": "",
        "insurancePolicyNumber": "",
        "client": {
            "id": client.id,
            "firstName": client.first_name or "",
            "lastName": client.last_name or "",
            "homePhone": client.home_phone,
            "mobilePhone": client.mobile_phone,
            "workPhone": client.work_phone,
            "email": client.email,
        },
    }


def _ref_json(ref: PimsRef | None) -> Json | None:
    if ref is None:
        return None
    return {"id": ref.id, "name": ref.name} if ref.id is not None else {"name": ref.name}


def parse_created_client(payload: object) -> PimsClient:
    """`{success, client: {id, ...}}`: the new client (its id is required)."""
    client = _client(_object(payload).get("client"))
    if client is None:
        raise PimsPayloadError("IDEXX Neo clients-create: the answer has no client id")
    return client


def parse_created_patient(payload: object, client: PimsClient) -> PimsPatient:
    """`{success, patient: {id, ...}}`: the new patient of `client`."""
    raw = _object(_object(payload).get("patient"))
    patient_id = id_text(raw.get("id"))
    if patient_id is None:
        raise PimsPayloadError("IDEXX Neo patients-create: the answer has no patient id")
    return PimsPatient(
        id=patient_id,
        name=text(raw.get("name")),
        species=_ref(raw.get("species")),
        breed=_ref(raw.get("breed")),
        gender=_ref(raw.get("gender")),
        client_id=client.id,
    )
