"""IDEXX's JSON shapes, field for field as docs/idexx.md records them."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pims_sync.simulator import timeline
from pims_sync.simulator.dataset import Client, Clinic, Patient, Visit

Json = dict[str, Any]


def wall(moment: datetime | None) -> str | None:
    """`YYYY-MM-DD HH:MM:SS`, clinic-local, as IDEXX writes times."""
    # isoformat is several times faster than strftime and identical for whole seconds.
    return moment.isoformat(" ") if moment else None


def _status_class(text: str | None) -> str | None:
    return text.lower().replace(" ", "-") if text else None


def calendar_event(clinic: Clinic, visit: Visit, now: datetime) -> Json:
    """One FullCalendar event of getCalendarEventData (snake_case, docs/idexx.md)."""
    if visit.kind != "appointment":
        return _staff_event(visit)
    status = timeline.status(visit, now)
    consultation = visit.consultation_id if timeline.has_consultation(visit, now) else None
    last_updated = visit.updated_at or max(visit.booked_at, min(now, visit.end))
    kind = visit.type
    return {
        "id": visit.id,
        "appointment_id": visit.id,
        "consultation_id": consultation,
        "start": wall(visit.start),
        "end": wall(visit.end),
        "arrival_date_time": wall(timeline.arrived_at(visit, now)),
        **_people(clinic, visit),
        "provider": visit.vet.name,
        "popup_title_text": visit.vet.name,
        "type_description": kind.name if kind else None,
        "reason": visit.reason,
        "current_status": status,
        "status_label": status,
        "status_class": _status_class(status),
        "confirmed_status": "confirmed" if visit.booked_by != "Online Booking" else "unconfirmed",
        "resourceId": str(visit.room.id),
        "appointment_room_id": visit.room.id,
        "appointment_room_name": visit.room.name,
        "backgroundColor": kind.color if kind else "#cccccc",
        "darkFont": True,
        "is_block": False,
        "is_roster": False,
        "recurring": False,
        "booked_by": visit.booked_by,
        "booked_at": wall(visit.booked_at),
        "last_updated_at": wall(last_updated),
        "last_updated_by": visit.vet.name if last_updated > visit.booked_at else visit.booked_by,
        "root_created_at_local": wall(visit.booked_at),
        "root_created_at_user": visit.booked_by,
        "is_unmatched": False,
        "audit_incomplete": False,
        "estimate_id": None,
    }


def _people(clinic: Clinic, visit: Visit) -> Json:
    """Patient and client fields of a calendar event, and the `title` built from them."""
    patient = clinic.patients.get(visit.patient_id or 0)
    client = clinic.clients.get(visit.client_id or 0)
    phone = (client.mobile_phone or client.home_phone or client.work_phone) if client else None
    return {
        "patient_id": patient.id if patient else None,
        "patient_name": patient.name if patient else None,
        "client_id": client.id if client else None,
        "client_title": client.title if client else None,
        "first_name": client.first_name if client else None,
        "last_name": client.last_name if client else None,
        "email": client.email if client else None,
        "phone_number": phone,
        "phone_label": _phone_label(client),
        "is_valid_mobile_phone": bool(client and client.mobile_phone),
        "title": f"{patient.name}; {client.last_name}, {client.first_name}"
        if patient and client
        else (visit.reason or "Appointment"),
    }


def _phone_label(client: Client | None) -> str | None:
    if client is None:
        return None
    if client.mobile_phone:
        return "Mobile"
    if client.home_phone:
        return "Home"
    return "Work" if client.work_phone else None


def _staff_event(visit: Visit) -> Json:
    """Blocks and rosters: patient and client fields null (docs/idexx.md#the-calendar-feed)."""
    return {
        "id": visit.id,
        "appointment_id": visit.id,
        "consultation_id": None,
        "start": wall(visit.start),
        "end": wall(visit.end),
        "arrival_date_time": None,
        "patient_id": None,
        "patient_name": None,
        "client_id": None,
        "first_name": None,
        "last_name": None,
        "email": None,
        "phone_number": None,
        "provider": visit.vet.name,
        "title": visit.title,
        "type_description": None,
        "reason": None,
        "current_status": None,
        "status_label": None,
        "resourceId": str(visit.room.id),
        "appointment_room_id": visit.room.id,
        "appointment_room_name": visit.room.name,
        "backgroundColor": "#e5e5e5" if visit.kind == "block" else "#ffffff",
        "is_block": visit.kind == "block",
        "is_roster": visit.kind == "roster",
        "recurring": visit.kind == "roster",
    }


def page_data(clinic: Clinic, visit: Visit, now: datetime, *, notes_key: bool = True) -> Json:
    """`/consultations/{id}/page-data`: root-level consultation, patient, client, … (docs/idexx.md).

    `notes_key=False` drops `consultationNotes`, which IDEXX may leave out.
    """
    patient = clinic.patients.get(visit.patient_id or 0)
    client = clinic.clients.get(visit.client_id or 0)
    state = timeline.consultation_state(visit, now, patient.name if patient else "Patient")
    data = {
        "consultation": {
            "id": visit.consultation_id,
            "consultationId": str(visit.consultation_id),
            "reason": visit.reason or "",
            "notes": "",
            "date": visit.start.strftime("%Y-%m-%dT%H:%M:%S"),
            "status": state.status,
        },
        "patient": _consultation_patient(patient, now.date()),
        "client": _consultation_client(client),
        "pageData": {
            "providers": [
                {
                    "id": vet.id,
                    "name": vet.name,
                    "email": vet.email,
                    "licenseNumber": vet.license_number,
                    "userType": vet.user_type,
                    "companyId": int(clinic.company_id),
                }
                for vet in clinic.vets
            ],
            "discountTypes": [],
            "taxRates": [{"id": 1, "name": "CA Sales Tax", "rate": 7.25}],
            "procedureTemplates": [],
            "canEditPriceExcTax": False,
        },
        "clientBranch": {"id": clinic.branch_id, "name": clinic.name, "sapId": clinic.sap_id},
        "consultationNotes": {"notes": state.notes_html},
        "consultationLines": timeline.invoice_lines(visit, now),
        "vitalSignGroup": None,
    }
    if not notes_key:
        del data["consultationNotes"]
    return data


def _consultation_patient(patient: Patient | None, today: date) -> Json | None:
    if patient is None:
        return None
    return {
        "id": patient.id,
        "name": patient.name,
        "species": patient.species[1],
        "breed": patient.breed[1],
        "dateOfBirth": patient.date_of_birth.isoformat(),
        "sex": patient.gender[1],
        "weight": patient.weight_kg,
        "weightUnit": "kg",
        "age": age_text(patient.date_of_birth, today),
    }


def _consultation_client(client: Client | None) -> Json | None:
    if client is None:
        return None
    return {
        "id": client.id,
        "firstName": client.first_name,
        "lastName": client.last_name,
        "phone": client.mobile_phone or client.home_phone or client.work_phone,
        "homePhone": client.home_phone,
        "mobilePhone": client.mobile_phone,
        "workPhone": client.work_phone,
        "email": client.email,
        "taxExempt": False,
        "address": {
            "street": client.street,
            "city": client.city,
            "state": client.state,
            "zip": client.zip,
        },
    }


def age_text(born: date, today: date) -> str:
    """IDEXX's age wording, e.g. "4 yrs 9 mos"."""
    months = max(0, (today.year - born.year) * 12 + today.month - born.month)
    return f"{months // 12} yrs {months % 12} mos"


def search_patient(clinic: Clinic, patient: Patient, today: date) -> Json:
    """One patient object of `/search/patients` (the nested shape, docs/idexx.md#patient-search)."""
    client = clinic.clients.get(patient.client_id)
    return {
        "id": patient.id,
        "formattedId": str(patient.id),
        "name": patient.name,
        "breed": {"id": patient.breed[0], "name": patient.breed[1]},
        "species": {"id": patient.species[0], "name": patient.species[1]},
        "gender": {"id": patient.gender[0], "name": patient.gender[1], "neutered": None},
        "color": patient.color,
        "age": age_text(patient.date_of_birth, today),
        "status": "a",
        "alive": True,
        "active": True,
        "client": {
            "id": client.id,
            "firstName": client.first_name,
            "lastName": client.last_name,
            "homePhone": client.home_phone,
            "mobilePhone": client.mobile_phone,
            "taxExempt": False,
        }
        if client
        else None,
    }
