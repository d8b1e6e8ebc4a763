"""The JSON examples of docs/idexx.md, some lists shortened: the names and types we must carry."""

from __future__ import annotations

from typing import Any

CALENDAR_APPOINTMENT: dict[str, Any] = {
    "id": 351412, "appointment_id": 351412, "consultation_id": 728004,
    "start": "2026-01-22 09:00:00", "end": "2026-01-22 09:15:00",
    "arrival_date_time": "2026-01-22 08:52:40",
    "patient_id": 41873, "patient_name": "PENNY",
    "client_id": 17342, "client_title": "Mrs", "first_name": "MARIA", "last_name": "LOPEZ",
    "email": "maria.lopez@example.com", "phone_number": "408-555-0142",
    "phone_label": "Mobile", "is_valid_mobile_phone": True,
    "provider": "DR. A. PATEL", "popup_title_text": "DR. A. PATEL",
    "title": "PENNY; LOPEZ, MARIA", "type_description": "Exam",
    "reason": "VOMITING X2 DAYS", "current_status": "Finalized", "status_label": "Finalized",
    "status_class": "finalized", "confirmed_status": "confirmed",
    "resourceId": "9", "appointment_room_id": 9, "appointment_room_name": "ROOM 1",
    "backgroundColor": "#d0ffac", "darkFont": True,
    "is_block": False, "is_roster": False, "recurring": False,
    "booked_by": "Front Desk", "booked_at": "2026-01-15 10:02:11",
    "last_updated_at": "2026-01-22 09:31:05", "last_updated_by": "DR. A. PATEL",
    "root_created_at_local": "2026-01-15 10:02:11", "root_created_at_user": "Front Desk",
    "is_unmatched": False, "audit_incomplete": False, "estimate_id": None,
}  # fmt: skip

CALENDAR_BLOCK: dict[str, Any] = {
    "id": 351700, "appointment_id": 351700, "consultation_id": None,
    "start": "2026-01-23 11:00:00", "end": "2026-01-23 14:00:00",
    "patient_id": None, "patient_name": None, "client_id": None,
    "first_name": None, "last_name": None, "email": None, "phone_number": None,
    "provider": "DR. A. PATEL", "title": "TP has Dr. appt", "type_description": None,
    "reason": None, "current_status": None, "status_label": None,
    "resourceId": "9", "is_block": True, "is_roster": False,
}  # fmt: skip

PAGE_DATA: dict[str, Any] = {
    "consultation": {
        "id": 728004, "reason": "VOMITING X2 DAYS", "notes": "",
        "date": "2026-01-22T09:05:00", "status": "completed",
    },
    "patient": {
        "id": 41873, "name": "PENNY", "species": "Canine", "breed": "Labrador Retriever",
        "dateOfBirth": "2019-04-02", "sex": "Spayed Female", "weight": 24.5, "weightUnit": "kg",
    },
    "client": {
        "id": 17342, "firstName": "MARIA", "lastName": "LOPEZ",
        "phone": "408-555-0142", "homePhone": None, "mobilePhone": "408-555-0142",
        "workPhone": None, "email": "maria.lopez@example.com", "taxExempt": False,
        "address": {"street": "12 Oak St", "city": "San Jose", "state": "CA", "zip": "95127"},
    },
    "pageData": {
        "providers": [
            {"id": 1000, "name": "DR. A. PATEL", "email": "apatel@example-vet.com",
             "licenseNumber": "VET12345", "userType": "Vet", "companyId": 9001}
        ],
        "discountTypes": [], "taxRates": [], "procedureTemplates": [],
        "canEditPriceExcTax": False,
    },
    "clientBranch": {"id": 1, "name": "Example Animal Hospital", "sapId": 100234},
    "consultationNotes": {"notes": "<p>Appointment reason: VOMITING X2 DAYS</p>"},
    "consultationLines": [
        {"id": 990011, "productService": "Examination - Sick Patient",
         "soldAtLocal": "2026-01-22 09:20:00", "provider": {"id": 1000, "name": "DR. A. PATEL"},
         "quantity": 1, "lineTotalExcTax": 72.0, "isDeclined": False},
    ],
    "vitalSignGroup": None,
}  # fmt: skip

SEARCH_PATIENT: dict[str, Any] = {
    "id": 48290, "formattedId": "48290", "name": "RYDER",
    "breed": {"id": "1298", "name": "French Bulldog"},
    "species": {"id": "4", "name": "Canine"},
    "gender": {"id": "1", "name": "Neutered Male", "neutered": None},
    "color": "BROWN", "age": "4 yrs 9 mos", "status": "a", "alive": True, "active": True,
    "client": {"id": 19765, "firstName": "JORDAN", "lastName": "REYES",
               "homePhone": None, "mobilePhone": "619-555-0199", "taxExempt": False},
}  # fmt: skip

GET_APPOINTMENT: dict[str, Any] = {
    "id": "351855", "status": "not arrived",
    "startAtLocal": "2026-01-28 15:15:00", "endAtLocal": "2026-01-28 15:30:00",
    "notes": "", "deleted": False, "block": False,
    "bookedBy": "Front Desk", "createdAt": "2026-01-25 15:22:41",
    "patient": {
        "id": 50081, "name": "BROWNIE",
        "breed": {"id": 3592, "name": "Golden Doodle"}, "species": {"id": 27, "name": "Dog"},
        "gender": {"id": 2, "name": "Male"},
        "client": {"id": 20691, "firstName": "SAM", "lastName": "RIVERA"},
    },
    "appointmentType": {"id": 1008, "name": "Groomer", "duration": 1, "color": "#dacccc"},
    "appointmentRoom": {"id": 8, "name": "ROOM 3", "position": 3},
    "provider": {"id": 1000, "name": "DR. A. PATEL"},
    "cancelledReason": None,
}  # fmt: skip

APPOINTMENT_VIEW_KEYS = {
    "slotInterval", "businessHours", "appointmentTypes", "appointmentRooms", "providers",
    "deputyEnabled",
}  # fmt: skip


def same_shape(example: Any, ours: Any, path: str = "$") -> list[str]:
    """Differences in key names and value types (None in either side matches anything)."""
    if example is None or ours is None:
        return []
    if isinstance(example, dict):
        if not isinstance(ours, dict):
            return [f"{path}: expected object, got {type(ours).__name__}"]
        problems = [f"{path}.{key}: missing" for key in example if key not in ours]
        for key in example.keys() & ours.keys():
            problems += same_shape(example[key], ours[key], f"{path}.{key}")
        return problems
    if isinstance(example, list):
        if not isinstance(ours, list):
            return [f"{path}: expected array"]
        return (
            [p for item in ours[:3] for p in same_shape(example[0], item, path + "[]")]
            if example
            else []
        )
    if isinstance(example, bool) or isinstance(ours, bool):
        return [] if type(example) is type(ours) else [f"{path}: expected {type(example).__name__}"]
    if isinstance(example, int | float) and isinstance(ours, int | float):
        return (
            []
            if isinstance(ours, type(example)) or isinstance(example, float)
            else [f"{path}: expected int"]
        )
    return (
        []
        if type(example) is type(ours)
        else [f"{path}: expected {type(example).__name__}, got {type(ours).__name__}"]
    )
