"""`/api/appointments/*`: booking write-back in IDEXX, exactly once and confirmed.

`search-patient` finds a patient (permissions `appointments:read` and `appointments:write`);
`create`, `cancel` and `reschedule` (`appointments:write`) write to IDEXX through
`BookingDesk`. `create` and `reschedule` need an `Idempotency-Key` header (400 without),
`cancel` takes one if given. Every answer is what IDEXX showed when read back
(docs/booking.md).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Response

from pims_sync.api.appointment_schemas import (
    CancelBody,
    CreateBody,
    RescheduleBody,
    SearchPatientBody,
)
from pims_sync.api.deps import ApiKeyDep, ServicesDep, request_clinic, require
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.domain.api_keys import APPOINTMENTS_READ, APPOINTMENTS_WRITE
from pims_sync.domain.booking_orders import BookingOutcome
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.write_requests import check_key
from pims_sync.errors import IdempotencyKeyRequiredError
from pims_sync.shapes.appointments import (
    BookingOut,
    PatientMatchOut,
    PatientSearchOut,
)

router = APIRouter(prefix="/api/appointments", tags=["appointments"])

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        description="Names this write: a repeat with the same key and body gets the first "
        "outcome and never writes twice. 1 to 255 printable ASCII characters (a UUID).",
    ),
]
WRITE_ERRORS = error_responses(*AUTHENTICATED_ERRORS, 409, 413, 422, 429, 502, 503)
PARTIAL: dict[int | str, dict[str, Any]] = {
    207: {
        "model": BookingOut,
        "description": "Reschedule: the new appointment is booked and the old one still is "
        "(`oldAppointmentCancelled: false`); repeat with the same key to cancel it",
    }
}


def _key(raw: str | None, route: str) -> str:
    if raw is None:
        raise IdempotencyKeyRequiredError(
            f"{route} needs an Idempotency-Key header (e.g. a UUID): a repeat of the request "
            "with the same key is then answered once, never booked twice"
        )
    return check_key(raw)


def _answer(clinic: Clinic, outcome: BookingOutcome, started: float) -> BookingOut:
    return BookingOut.of(
        outcome, clinic.zone, duration_ms=round((time.monotonic() - started) * 1000)
    )


@router.post(
    "/search-patient",
    summary="Find patients in the clinic's PIMS by name, id or owner",
    response_model=PatientSearchOut,
    responses=error_responses(*AUTHENTICATED_ERRORS, 409, 413, 429, 502, 503),
    dependencies=[Depends(require(APPOINTMENTS_READ, APPOINTMENTS_WRITE))],
)
async def search_patient(
    services: ServicesDep, key: ApiKeyDep, body: SearchPatientBody
) -> PatientSearchOut:
    """Patients of the clinic's PIMS by name, id or owner: `{success, patients, totalCount}`."""
    started = time.monotonic()
    clinic = await request_clinic(services, key, body.clinic_id)
    found = await services.bookings.search(clinic, body.query, body.limit)
    patients = [PatientMatchOut.of(match) for match in found]
    return PatientSearchOut(
        patients=patients,
        total_count=len(patients),
        duration_ms=round((time.monotonic() - started) * 1000),
        timestamp=datetime.now(UTC),
    )


@router.post(
    "/create",
    summary="Book an appointment in IDEXX (exactly once, confirmed by reading back)",
    response_model=BookingOut,
    responses=WRITE_ERRORS,
    dependencies=[Depends(require(APPOINTMENTS_WRITE))],
)
async def create(
    services: ServicesDep,
    key: ApiKeyDep,
    body: CreateBody,
    idempotency_key: IdempotencyKey = None,
) -> BookingOut:
    """Book in IDEXX, exactly once per Idempotency-Key; the appointment as read back."""
    started = time.monotonic()
    clinic = await request_clinic(services, key, body.clinic_id)
    write_key = _key(idempotency_key, "create")
    outcome = await services.bookings.create(clinic, body.order(), key=write_key)
    return _answer(clinic, outcome, started)


@router.post(
    "/cancel",
    summary="Cancel an appointment in IDEXX (confirmed by reading it back)",
    response_model=BookingOut,
    responses=WRITE_ERRORS,
    dependencies=[Depends(require(APPOINTMENTS_WRITE))],
)
async def cancel(
    services: ServicesDep,
    key: ApiKeyDep,
    body: CancelBody,
    idempotency_key: IdempotencyKey = None,
) -> BookingOut:
    """Cancel in IDEXX (Idempotency-Key optional); the appointment as read back."""
    started = time.monotonic()
    clinic = await request_clinic(services, key, body.clinic_id)
    write_key = None if idempotency_key is None else check_key(idempotency_key)
    outcome = await services.bookings.cancel(clinic, body.order(), key=write_key)
    return _answer(clinic, outcome, started)


@router.post(
    "/reschedule",
    summary="Move an appointment: book the new one, confirm it, then cancel the old one",
    response_model=BookingOut,
    responses={**PARTIAL, **WRITE_ERRORS},
    dependencies=[Depends(require(APPOINTMENTS_WRITE))],
)
async def reschedule(
    services: ServicesDep,
    key: ApiKeyDep,
    body: RescheduleBody,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> BookingOut:
    """Book the new appointment, confirm it, then cancel the old one (207 while it is not)."""
    started = time.monotonic()
    clinic = await request_clinic(services, key, body.clinic_id)
    write_key = _key(idempotency_key, "reschedule")
    outcome = await services.bookings.reschedule(clinic, body.reschedule(), key=write_key)
    if outcome.unfinished:
        response.status_code = 207
    return _answer(clinic, outcome, started)
