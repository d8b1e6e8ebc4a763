"""Appointment management: details, view, create, cancel/delete, new clients and patients."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pims_sync.simulator import details, timeline, traits
from pims_sync.simulator.dataset import Client, Clinic, Patient, Visit
from pims_sync.simulator.feeds import bad_request, not_found
from pims_sync.simulator.simulation import Handler, Simulation
from pims_sync.simulator.state import Session
from pims_sync.simulator.world import NewAppointment

SUCCESS = {"success": True}
FRONT_DESK = 2  # the view's non-vet provider: bookable, the column's vet is then the default
DEFAULT_LENGTH = timedelta(minutes=15)  # without a time_end
CSRF_REFUSAL = {"success": False, "error": "Forbidden", "message": "CSRF token mismatch."}


def routes(sim: Simulation) -> list[Route]:
    """The appointment-management routes."""

    async def get_appointment(request: Request, session: Session) -> Response:
        clinic = sim.clinic_of(session)
        raw = request.query_params.get("id", "")
        visit = sim.world.visit(int(raw)) if raw.isdigit() else None
        if visit is None or visit.deleted or visit.clinic_index != clinic.index:
            return not_found(f"Appointment {raw} not found")
        shown = details.appointment_details(clinic, visit, sim.clock.now())
        return JSONResponse(traits.appointment_details(shown, sim.settings))

    async def view(request: Request, session: Session) -> Response:
        del request
        return JSONResponse(details.appointment_view(sim.clinic_of(session)))

    async def create(request: Request, session: Session) -> Response:
        return await _create(sim, sim.clinic_of(session), request)

    async def delete(request: Request, session: Session) -> Response:
        return await _delete(sim, sim.clinic_of(session), request)

    async def new_client(request: Request, session: Session) -> Response:
        return await _new_client(sim, sim.clinic_of(session), request)

    async def new_patient(request: Request, session: Session) -> Response:
        return await _new_patient(sim, sim.clinic_of(session), request)

    def write(name: str, handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        return sim.endpoint(name, _csrf_checked(sim, handler))

    return [
        Route("/appointments/getAppointment", sim.endpoint("appointment", get_appointment)),
        Route("/appointments/getAppointmentView", sim.endpoint("view", view)),
        Route("/appointments/create", write("create", create), methods=["POST"]),
        Route("/appointments/delete/{appointment_id}", write("delete", delete), methods=["POST"]),
        Route("/clients/create", write("clients-create", new_client), methods=["POST"]),
        Route("/patients/create", write("patients-create", new_patient), methods=["POST"]),
    ]


def _csrf_checked(sim: Simulation, handler: Handler) -> Handler:
    """With the writeCsrf trait, a write without the session's token is refused (403)."""

    async def checked(request: Request, session: Session) -> Response:
        if sim.settings.write_csrf and request.headers.get("x-csrf-token") != session.csrf:
            return JSONResponse(CSRF_REFUSAL, status_code=403)
        return await handler(request, session)

    return checked


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


def _refused(errors: dict[str, str], status: int = 400) -> Response:
    """A validation refusal: the first problem as `error`, every one by field (our guess)."""
    first = next(iter(errors.values()))
    return JSONResponse({"success": False, "error": first, "errors": errors}, status)


def _hh_mm(value: Any) -> time | None:
    text = str(value or "").strip()
    if len(text) != len("HH:MM") or text[2] != ":":
        return None
    try:
        return time.fromisoformat(text)
    except ValueError:
        return None


def _optional_id(form: Any, name: str) -> tuple[bool, int | None]:
    """(given, id): empty and "0" mean not given (the original sent room 0); junk is None."""
    raw = str(form.get(name) or "").strip()
    if raw in ("", "0"):
        return False, None
    return True, _int(raw)


def _appointment_form(clinic: Clinic, form: Any) -> NewAppointment | dict[str, str]:
    """The create form read as IDEXX would, or its problems by field name."""
    problems: dict[str, str] = {}
    patient_id = _int(form.get("patient_id"))
    if patient_id is None or patient_id not in clinic.patients:
        problems["patient_id"] = "Patient not found"
    try:
        day = date.fromisoformat(str(form.get("appointment_date") or ""))
    except ValueError:
        day = None
        problems["appointment_date"] = "appointment_date must be a date (YYYY-MM-DD)"
    begins = _hh_mm(form.get("time"))
    if begins is None:
        problems["time"] = "time must be HH:MM"
    ends = _hh_mm(form.get("time_end")) if form.get("time_end") else None
    if form.get("time_end") and ends is None:
        problems["time_end"] = "time_end must be HH:MM"
    elif ends is not None and begins is not None and ends <= begins:
        problems["time_end"] = "time_end must be after time"
    ids: dict[str, int | None] = {}
    checks: tuple[tuple[str, str, Callable[[int], bool]], ...] = (
        ("type_id", "Appointment type", lambda i: clinic.appointment_type(i) is not None),
        ("user_id", "Provider", lambda i: i == FRONT_DESK or clinic.vet(i) is not None),
        ("room", "Room", lambda i: clinic.room(i) is not None),
    )
    for field, label, known in checks:
        given, value = _optional_id(form, field)
        if given and (value is None or not known(value)):
            problems[field] = f"{label} not found"
        ids[field] = value
    if problems or day is None or begins is None:
        return problems
    start = datetime.combine(day, begins)
    end = datetime.combine(day, ends) if ends else start + DEFAULT_LENGTH
    return NewAppointment(
        start=start,
        end=end,
        patient_id=patient_id,
        type_id=ids["type_id"],
        vet_id=None if ids["user_id"] == FRONT_DESK else ids["user_id"],
        room_id=ids["room"],
        reason=str(form.get("reason") or "") or None,
        booked_by="Front Desk",
    )


def _overlapping(sim: Simulation, clinic: Clinic, new: NewAppointment) -> Visit | None:
    """A live appointment or block of the new booking's column that overlaps it, if any."""
    room = clinic.room(new.room_id or 0) or clinic.rooms[0]
    now = sim.clock.now()
    for visit in sim.world.between(clinic, new.start, new.end, stays=sim.settings.multi_day_stays):
        if (
            visit.kind != "roster"  # a shift is not a booking: it takes no column time
            and visit.room.id == room.id
            and visit.start < new.end
            and visit.end > new.start
            and not timeline.is_cancelled(visit, now)
        ):
            return visit
    return None


async def _create(sim: Simulation, clinic: Clinic, request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return bad_request("expected multipart/form-data")
    new = _appointment_form(clinic, await request.form())
    if isinstance(new, dict):
        return _refused(new)
    taken = _overlapping(sim, clinic, new)
    if taken is not None:
        # Our guess at IDEXX's refusal of a double booking (docs/idexx.md).
        message = f"The appointment overlaps another booking in {taken.room.name}"
        return JSONResponse({"success": False, "error": "Conflict", "message": message}, 409)
    sim.world.add(clinic, new, sim.clock.now())
    # The real answer carries no appointment id: clients must look it up
    # (docs/idexx.md#creating-and-cancelling-appointments).
    return JSONResponse(SUCCESS)


async def _delete(sim: Simulation, clinic: Clinic, request: Request) -> Response:
    raw = request.path_params["appointment_id"]
    visit = sim.world.visit(int(raw)) if raw.isdigit() else None
    if visit is None or visit.deleted or visit.clinic_index != clinic.index:
        return not_found(f"Appointment {raw} not found")
    body = await _json_body(request)
    if body is None:
        return bad_request("expected a JSON object")
    action = body.get("action", "cancel")
    now = sim.clock.now()
    if action == "cancel":
        sim.world.cancel(visit, str(body.get("reason") or "Cancelled"), now)
    elif action == "delete":
        sim.world.delete(visit, now)
    else:
        return bad_request("action must be cancel or delete")
    return JSONResponse(SUCCESS)


async def _new_client(sim: Simulation, clinic: Clinic, request: Request) -> Response:
    body = await _json_body(request)
    if body is None or not body.get("firstName") or not body.get("lastName"):
        return JSONResponse(
            {"success": False, "errors": {"firstName": "required", "lastName": "required"}}, 400
        )
    client = Client(
        id=0,
        title=str(body.get("title") or ""),
        first_name=str(body["firstName"]),
        last_name=str(body["lastName"]),
        email=body.get("email") or None,
        mobile_phone=body.get("mobilePhone") or None,
        home_phone=body.get("homePhone") or None,
        work_phone=body.get("workPhone") or None,
        street=str(body.get("address1") or ""),
        city=str(body.get("city") or ""),
        state=str(body.get("state") or ""),
        zip=str(body.get("postalCode") or ""),
        registered_at=sim.clock.now(),
    )
    sim.world.add_client(clinic, client)
    return JSONResponse({"success": True, "client": details.created_client(client)})


def _pair(value: Any, default: tuple[str, str]) -> tuple[str, str]:
    if isinstance(value, dict) and value.get("id") is not None:
        return str(value["id"]), str(value.get("name") or "")
    return default


async def _new_patient(sim: Simulation, clinic: Clinic, request: Request) -> Response:
    body = await _json_body(request)
    owner = body.get("client") if body else None
    client_id = _int(owner.get("id")) if isinstance(owner, dict) else None
    if body is None or not body.get("name") or client_id is None or client_id not in clinic.clients:
        return JSONResponse(
            {"success": False, "errors": {"name": "required", "client": "unknown client"}}, 400
        )
    patient = Patient(
        id=0,
        name=str(body["name"]),
        species=_pair(body.get("species"), ("4", "Canine")),
        breed=_pair(body.get("breed"), ("1333", "Mixed Breed")),
        gender=_pair(body.get("gender"), ("2", "Male")),
        color=str(body.get("color") or ""),
        date_of_birth=_birth(body.get("dob"), sim.clock.now()),
        weight_kg=0.0,
        client_id=client_id,
    )
    sim.world.add_patient(clinic, patient)
    return JSONResponse({"success": True, "patient": details.created_patient(patient)})


def _birth(value: Any, now: datetime) -> date:
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return now.date()
