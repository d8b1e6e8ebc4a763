"""Appointment management: details, view, create, cancel/delete, new clients and patients."""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pims_sync.simulator import details, traits
from pims_sync.simulator.dataset import Client, Clinic, Patient
from pims_sync.simulator.feeds import bad_request, not_found, parse_wall_clock
from pims_sync.simulator.simulation import Simulation
from pims_sync.simulator.state import Session
from pims_sync.simulator.world import NewAppointment

SUCCESS = {"success": True}


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

    return [
        Route("/appointments/getAppointment", sim.endpoint("appointment", get_appointment)),
        Route("/appointments/getAppointmentView", sim.endpoint("view", view)),
        Route("/appointments/create", sim.endpoint("create", create), methods=["POST"]),
        Route(
            "/appointments/delete/{appointment_id}",
            sim.endpoint("delete", delete),
            methods=["POST"],
        ),
        Route("/clients/create", sim.endpoint("clients-create", new_client), methods=["POST"]),
        Route("/patients/create", sim.endpoint("patients-create", new_patient), methods=["POST"]),
    ]


async def _json_body(request: Request) -> dict[str, Any] | None:
    try:
        body = json.loads(await request.body() or b"{}")
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


def _int(value: Any) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() else None


async def _create(sim: Simulation, clinic: Clinic, request: Request) -> Response:
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return bad_request("expected multipart/form-data")
    form = await request.form()
    start = parse_wall_clock(f"{form.get('appointment_date')} {form.get('time')}")
    if start is None:
        return bad_request("appointment_date (YYYY-MM-DD) and time (HH:MM) are required")
    end = start + timedelta(minutes=15)
    if form.get("time_end"):
        try:
            end = datetime.combine(start.date(), time.fromisoformat(str(form.get("time_end"))))
        except ValueError:
            return bad_request("time_end must be HH:MM")
    patient_id = _int(form.get("patient_id"))
    if patient_id is None or patient_id not in clinic.patients:
        return JSONResponse({"success": False, "error": "Patient not found"}, status_code=400)
    new = NewAppointment(
        start=start,
        end=max(end, start + timedelta(minutes=5)),
        patient_id=patient_id,
        type_id=_int(form.get("type_id")),
        vet_id=_int(form.get("user_id")),
        room_id=_int(form.get("room")),
        reason=str(form.get("reason") or "") or None,
        booked_by="Front Desk",
    )
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
