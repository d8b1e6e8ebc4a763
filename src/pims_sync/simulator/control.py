"""The control API under `/__sim__/`: change the world, the clock, sessions, faults, settings."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pims_sync.simulator.corruption import Corruptions, ItemCorruption
from pims_sync.simulator.dataset import Clinic, Visit
from pims_sync.simulator.errors import ControlError, UnknownClinicError
from pims_sync.simulator.feeds import calendar_events, listed_event, parse_wall_clock
from pims_sync.simulator.simulation import Simulation
from pims_sync.simulator.state import Stats
from pims_sync.simulator.world import NewAppointment

PREFIX = "/__sim__"
Body = dict[str, Any]


@dataclass(frozen=True)
class Call:
    """One control request: the simulation, the HTTP request and its parsed JSON body."""

    sim: Simulation
    request: Request
    body: Body

    def path_id(self) -> str:
        """The `{id}` of the path."""
        return str(self.request.path_params["id"])


ControlHandler = Callable[[Call], Awaitable[Any]]


def _control(sim: Simulation, handler: ControlHandler) -> Callable[[Request], Awaitable[Response]]:
    """Parse the JSON body, run the handler, map refusals to 400/404 JSON."""

    async def run(request: Request) -> Response:
        try:
            raw = await request.body()
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ControlError("expected a JSON object")
            result = await handler(Call(sim, request, body))
        except (ControlError, UnknownClinicError, ValueError) as error:
            status = getattr(error, "status", 404 if isinstance(error, LookupError) else 400)
            return JSONResponse({"ok": False, "error": str(error)}, status_code=status)
        return result if isinstance(result, Response) else JSONResponse(result)

    return run


def routes(sim: Simulation) -> list[Route]:
    """Every control route, bound to one simulation."""
    table: list[tuple[str, str, ControlHandler]] = [
        ("GET", "", _overview),
        ("GET", "/appointments", _list),
        ("POST", "/appointments", _add),
        ("POST", "/appointments/{id}/cancel", _cancel),
        ("POST", "/appointments/{id}/delete", _delete),
        ("POST", "/appointments/{id}/move", _move),
        ("POST", "/appointments/{id}/restore", _restore),
        ("POST", "/days/{day}/clear", _clear_day),
        ("POST", "/consultations/{id}/notes", _notes),
        ("POST", "/appointments/{id}/corrupt", _corrupt_event),
        ("POST", "/consultations/{id}/corrupt", _corrupt_consultation),
        ("GET", "/corruptions", _show_corruptions),
        ("POST", "/corruptions/clear", _clear_corruptions),
        ("POST", "/clients/{id}", _change_client),
        ("GET", "/clock", _show_clock),
        ("POST", "/clock", _clock),
        ("GET", "/sessions", _sessions),
        ("POST", "/sessions/expire", _expire),
        ("GET", "/faults", _show_faults),
        ("POST", "/faults", _faults),
        ("GET", "/settings", _show_settings),
        ("POST", "/settings", _settings),
        ("POST", "/credentials", _credentials),
        ("POST", "/reset", _reset),
        ("GET", "/stats", _stats),
        ("POST", "/stats/reset", _reset_stats),
    ]
    return [
        Route(PREFIX + path, _control(sim, handler), methods=[method])
        for method, path, handler in table
    ]


def _clinic(call: Call) -> Clinic:
    company = call.body.get("clinic") or call.request.query_params.get("clinic")
    return call.sim.world.clinic(str(company) if company is not None else None)


def _visit(call: Call) -> Visit:
    raw = call.path_id()
    visit = call.sim.world.visit(int(raw)) if raw.isdigit() else None
    if visit is None or visit.deleted:
        raise ControlError(f"no appointment {raw}", 404)
    return visit


def _moment(body: Body, key: str) -> datetime:
    value = body.get(key)
    moment = parse_wall_clock(value if isinstance(value, str) else None)
    if moment is None:
        raise ControlError(f"{key} must be YYYY-MM-DD HH:MM:SS")
    return moment


def _optional_moment(body: Body, key: str) -> datetime | None:
    return None if body.get(key) is None else _moment(body, key)


async def _overview(call: Call) -> Body:
    sim = call.sim
    return {
        "seed": sim.config.seed,
        "profile": sim.settings.profile,
        "clock": sim.clock.as_json(),
        "settings": sim.settings.as_json(),
        "clinics": [
            {
                "companyId": clinic.company_id,
                "name": clinic.name,
                "username": sim.credentials[clinic.company_id][0],
                "timezone": sim.config.timezone,
                "rooms": [room.name for room in clinic.rooms],
                "vets": [vet.name for vet in clinic.vets],
                "patients": len(clinic.patients),
            }
            for clinic in sim.world.clinics
        ],
        "sessions": len(sim.sessions),
    }


async def _list(call: Call) -> list[Any]:
    params = call.request.query_params
    start, end = parse_wall_clock(params.get("start")), parse_wall_clock(params.get("end"))
    if start is None or end is None:
        raise ControlError("start and end are required (YYYY-MM-DD)")
    if len(params.get("end", "")) == len("YYYY-MM-DD"):
        end = end.replace(hour=23, minute=59, second=59)
    return calendar_events(call.sim, _clinic(call), start, end)


async def _add(call: Call) -> Response:
    clinic, body, now = _clinic(call), call.body, call.sim.clock.now()
    start = _moment(body, "start")
    minutes = body.get("durationMinutes", 15)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or minutes <= 0:
        raise ControlError("durationMinutes must be a positive integer")
    new = NewAppointment(
        start=start,
        end=_optional_moment(body, "end") or start + timedelta(minutes=minutes),
        patient_id=int(body.get("patientId") or min(clinic.patients)),
        type_id=body.get("typeId"),
        vet_id=body.get("providerId"),
        room_id=body.get("roomId"),
        reason=body.get("reason"),
        booked_by=str(body.get("bookedBy") or "Online Booking"),
    )
    try:
        visit = call.sim.world.add(clinic, new, now)
    except LookupError as error:
        raise ControlError(str(error)) from error
    event = listed_event(call.sim, clinic, visit)
    return JSONResponse({"ok": True, "appointment": event}, status_code=201)


async def _cancel(call: Call) -> Body:
    visit = _visit(call)
    reason = str(call.body.get("reason") or "Cancelled via phone")
    call.sim.world.cancel(visit, reason, call.sim.clock.now())
    return _changed(call.sim, visit)


async def _delete(call: Call) -> Body:
    visit = _visit(call)
    call.sim.world.delete(visit, call.sim.clock.now())
    return {"ok": True, "id": visit.id, "deleted": True}


async def _restore(call: Call) -> Body:
    """A hard-deleted appointment comes back under its own id (an undone delete)."""
    raw = call.path_id()
    visit = call.sim.world.visit(int(raw)) if raw.isdigit() else None
    if visit is None or visit.kind != "appointment":
        raise ControlError(f"no appointment {raw}", 404)
    if not visit.deleted:
        raise ControlError(f"appointment {raw} is not deleted")
    call.sim.world.restore(visit, call.sim.clock.now())
    return _changed(call.sim, visit)


async def _move(call: Call) -> Body:
    visit = _visit(call)
    start, end = _moment(call.body, "start"), _optional_moment(call.body, "end")
    call.sim.world.move(visit, start, end, call.sim.clock.now())
    return _changed(call.sim, visit)


async def _clear_day(call: Call) -> Body:
    """An empty day: every event of the clinic-day is deleted (an empty feed is not an error)."""
    day = parse_wall_clock(str(call.request.path_params["day"]))
    if day is None:
        raise ControlError("day must be YYYY-MM-DD")
    sim, clinic, now = call.sim, _clinic(call), call.sim.clock.now()
    start, end = day.replace(hour=0), day.replace(hour=23, minute=59, second=59)
    # Every live event overlapping the day (shown stays included): the feed shows an empty day.
    events = sim.world.between(clinic, start, end, stays=sim.settings.multi_day_stays)
    for visit in events:
        call.sim.world.delete(visit, now)
    return {"ok": True, "deleted": len(events)}


async def _notes(call: Call) -> Body:
    raw = call.path_id()
    visit = call.sim.world.visit_for_consultation(int(raw)) if raw.isdigit() else None
    if visit is None:
        raise ControlError(f"no consultation {raw}", 404)
    notes = call.body.get("notes")
    if not isinstance(notes, str):
        raise ControlError("notes must be a string (HTML)")
    call.sim.world.write_notes(visit, notes, str(call.body.get("status") or "completed"))
    return {"ok": True, "consultationId": visit.consultation_id, "appointmentId": visit.id}


async def _corrupt_event(call: Call) -> Body:
    """The feed serves this appointment's event malformed, or twice (docs/simulator.md)."""
    visit = _visit(call)
    entry = call.sim.corruptions.corrupt_event(visit.id, call.body)
    call.sim.world.version += 1  # rendered feeds must not be served from the cache
    return {"ok": True, "appointmentId": visit.id, "corruption": _shown(entry)}


async def _corrupt_consultation(call: Call) -> Body:
    """The page-data of this consultation is served malformed (docs/simulator.md)."""
    raw = call.path_id()
    visit = call.sim.world.visit_for_consultation(int(raw)) if raw.isdigit() else None
    if visit is None:
        raise ControlError(f"no consultation {raw}", 404)
    entry = call.sim.corruptions.corrupt_consultation(int(raw), call.body)
    call.sim.world.version += 1
    shown = call.sim.corruptions.as_json()["consultations"].get(raw) if entry else None
    return {"ok": True, "consultationId": int(raw), "corruption": shown}


async def _show_corruptions(call: Call) -> Body:
    return call.sim.corruptions.as_json()


async def _clear_corruptions(call: Call) -> Body:
    call.sim.corruptions = Corruptions()
    call.sim.world.version += 1
    return {"ok": True}


def _shown(entry: ItemCorruption | None) -> Body | None:
    return None if entry is None else entry.as_json()


async def _change_client(call: Call) -> Body:
    """A client's phone or e-mail changes (a real clinic edits these between visits)."""
    raw, body = call.path_id(), call.body
    changes: dict[str, str | None] = {}
    for key in ("phone", "email"):
        if key in body:
            value = body[key]
            if value is not None and not isinstance(value, str):
                raise ControlError(f"{key} must be a string or null")
            changes[key] = value
    if not changes:
        raise ControlError("give phone and/or email")
    if not raw.isdigit():
        raise ControlError(f"no client {raw}", 404)
    try:
        client = call.sim.world.change_client(int(raw), changes)
    except LookupError as error:
        raise ControlError(str(error), 404) from error
    return {"ok": True, "clientId": client.id, "phone": client.mobile_phone, "email": client.email}


def _changed(sim: Simulation, visit: Visit) -> Body:
    clinic = sim.world.clinics[visit.clinic_index]
    return {"ok": True, "appointment": listed_event(sim, clinic, visit)}


async def _show_clock(call: Call) -> Body:
    return call.sim.clock.as_json()


async def _clock(call: Call) -> Body:
    clock, body = call.sim.clock, call.body
    if body.get("real"):
        clock.real()
    elif "now" in body:
        clock.set(_moment(body, "now"), frozen=bool(body.get("frozen", True)))
    elif "advanceMinutes" in body:
        minutes = body["advanceMinutes"]
        if isinstance(minutes, bool) or not isinstance(minutes, int | float):
            raise ControlError("advanceMinutes must be a number")
        clock.advance(minutes)
    else:
        raise ControlError('give "now", "advanceMinutes" or "real": true')
    return clock.as_json()


async def _sessions(call: Call) -> Body:
    return {"active": len(call.sim.sessions)}


async def _expire(call: Call) -> Body:
    return {"ok": True, "expired": call.sim.sessions.expire_all()}


async def _show_faults(call: Call) -> Body:
    return {"faults": call.sim.faults.as_json()}


async def _faults(call: Call) -> Body:
    if call.body.get("clear"):
        call.sim.faults.clear()
    else:
        call.sim.faults.add(call.body)
    return {"ok": True, "faults": call.sim.faults.as_json()}


async def _show_settings(call: Call) -> Body:
    return call.sim.settings.as_json()


async def _settings(call: Call) -> Body:
    call.sim.settings.update(call.body)
    return call.sim.settings.as_json()


async def _credentials(call: Call) -> Body:
    clinic = _clinic(call)
    username, password = call.sim.credentials[clinic.company_id]
    call.sim.credentials[clinic.company_id] = (
        str(call.body.get("username") or username),
        str(call.body.get("password") or password),
    )
    return {"ok": True, "companyId": clinic.company_id}


async def _reset(call: Call) -> Body:
    call.sim.reset()
    return {"ok": True}


async def _stats(call: Call) -> Body:
    return call.sim.stats.as_json()


async def _reset_stats(call: Call) -> Body:
    call.sim.stats = Stats()
    return {"ok": True}
