"""Shapes of the appointment-management endpoints.

See docs/idexx.md: appointment details, appointment view, clients and patients.
"""

from __future__ import annotations

from datetime import datetime

from pims_sync.simulator import timeline
from pims_sync.simulator.dataset import Client, Clinic, Patient, Visit
from pims_sync.simulator.shapes import Json, wall


def appointment_details(clinic: Clinic, visit: Visit, now: datetime) -> Json:
    """`getAppointment`: camelCase, cancelled shown as `deleted` + `cancelledReason`."""
    patient = clinic.patients.get(visit.patient_id or 0)
    cancelled = timeline.is_cancelled(visit, now)
    status = timeline.status(visit, now)
    kind = visit.type
    return {
        "appointment": {
            "id": str(visit.id),
            # The discovery capture shows lower-case statuses here ("not arrived").
            "status": (status or "").lower(),
            "startAtLocal": wall(visit.start),
            "endAtLocal": wall(visit.end),
            "notes": "",
            "deleted": cancelled,
            "block": visit.kind != "appointment",
            "bookedBy": visit.booked_by,
            "createdAt": wall(visit.booked_at),
            "patient": _patient(clinic, patient),
            "appointmentType": {
                "id": kind.id,
                "name": kind.name,
                "duration": 1,
                "color": kind.color,
            }
            if kind
            else None,
            "appointmentRoom": {
                "id": visit.room.id,
                "name": visit.room.name,
                "position": visit.room.position,
            },
            "provider": {"id": visit.vet.id, "name": visit.vet.name},
            "cancelledReason": visit.cancelled_reason if cancelled else None,
        }
    }


def _patient(clinic: Clinic, patient: Patient | None) -> Json | None:
    if patient is None:
        return None
    client = clinic.clients.get(patient.client_id)
    owner: Json | None = None
    if client is not None:
        owner = {"id": client.id, "firstName": client.first_name, "lastName": client.last_name}
        for key, value in (
            ("email", client.email),
            ("homePhone", client.home_phone),
            ("mobilePhone", client.mobile_phone),
        ):
            if value:  # optional keys: absent rather than null, as in the capture
                owner[key] = value
    return {
        "id": patient.id,
        "name": patient.name,
        "breed": {"id": int(patient.breed[0]), "name": patient.breed[1]},
        "species": {"id": int(patient.species[0]), "name": patient.species[1]},
        "gender": {"id": int(patient.gender[0]), "name": patient.gender[1]},
        "client": owner,
    }


def appointment_view(clinic: Clinic) -> Json:
    """`getAppointmentView`: hours, types, rooms and providers used to build a create."""
    return {
        "slotInterval": 15,
        "businessHours": [
            {"daysOfWeek": [0, 1, 2, 3, 4, 5, 6], "startTime": "08:00", "endTime": "19:00"}
        ],
        "appointmentTypes": [
            {"id": kind.id, "name": kind.name, "duration": 1, "color": kind.color}
            for kind in clinic.types
        ],
        "appointmentRooms": [
            {"id": room.id, "name": room.name, "position": room.position} for room in clinic.rooms
        ],
        "providers": [
            {"id": 2, "name": "Front Desk", "provider": True},
            *({"id": vet.id, "name": vet.name, "provider": True} for vet in clinic.vets),
        ],
        "deputyEnabled": False,
    }


def created_client(client: Client) -> Json:
    """The `client` object `/clients/create` answers with."""
    return {
        "id": client.id,
        "firstName": client.first_name,
        "lastName": client.last_name,
        "email": client.email,
        "homePhone": client.home_phone,
        "workPhone": client.work_phone,
        "mobilePhone": client.mobile_phone,
        "address1": client.street,
        "address2": "",
        "address3": "",
        "suburb": "",
        "city": client.city,
        "state": client.state,
        "country": "US",
        "active": True,
        "taxExempt": False,
        "registeredAtLocal": client.registered_at.strftime("%Y-%m-%dT%H:%M:%S"),
        "deactivatedAtLocal": None,
    }


def created_patient(patient: Patient) -> Json:
    """The `patient` object `/patients/create` answers with."""
    return {
        "id": patient.id,
        "formattedId": str(patient.id),
        "name": patient.name,
        "breed": {"id": patient.breed[0], "name": patient.breed[1]},
        "species": {"id": patient.species[0], "name": patient.species[1]},
        "color": patient.color,
        "gender": {"id": patient.gender[0], "name": patient.gender[1]},
    }
