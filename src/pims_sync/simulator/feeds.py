"""The read endpoints: calendar feed, consultation page-data, patient search (docs/idexx.md)."""

from __future__ import annotations

import unicodedata
from datetime import datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from pims_sync.simulator import shapes, timeline, traits
from pims_sync.simulator.dataset import Clinic, Visit
from pims_sync.simulator.simulation import Simulation
from pims_sync.simulator.state import Session
from pims_sync.simulator.world import MAX_RANGE_DAYS

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d")


def routes(sim: Simulation) -> list[Route]:
    """Calendar, page-data and search routes."""

    async def calendar(request: Request, session: Session) -> Response:
        return _calendar(sim, sim.clinic_of(session), request)

    async def page_data(request: Request, session: Session) -> Response:
        return _page_data(sim, sim.clinic_of(session), request.path_params["consultation_id"])

    async def search(request: Request, session: Session) -> Response:
        return _search(sim, sim.clinic_of(session), request)

    return [
        Route("/appointments/getCalendarEventData", sim.endpoint("calendar", calendar)),
        Route("/consultations/{consultation_id}/page-data", sim.endpoint("page-data", page_data)),
        Route("/search/patients", sim.endpoint("search", search)),
    ]


def parse_wall_clock(text: str | None) -> datetime | None:
    """A clinic-local time as IDEXX's clients send it; None if unreadable."""
    for pattern in TIME_FORMATS:
        try:
            return datetime.strptime((text or "").strip(), pattern)  # noqa: DTZ007 - wall clock
        except ValueError:
            continue
    return None


def bad_request(message: str) -> Response:
    """A 400 with IDEXX-ish JSON."""
    return JSONResponse({"success": False, "error": "Bad Request", "message": message}, 400)


def not_found(message: str) -> Response:
    """A 404 with IDEXX-ish JSON."""
    return JSONResponse({"success": False, "error": "Not Found", "message": message}, 404)


def calendar_events(sim: Simulation, clinic: Clinic, start: datetime, end: datetime) -> list[Any]:
    """The feed's events for a window as the control API lists them (the truth).

    Honours the cancelled-in-feed setting and the traits that change what an event says
    (stays, statuses, names); not those that change only how the feed encodes it.
    """
    now, settings = sim.clock.now(), sim.settings
    keep_cancelled = settings.cancelled_in_feed
    events = [
        shapes.calendar_event(clinic, visit, now)
        for visit in sim.world.between(clinic, start, end, stays=settings.multi_day_stays)
        if keep_cancelled or not timeline.is_cancelled(visit, now)
    ]
    if settings.lower_case_statuses or settings.mixed_case_names:
        events = [traits.shown_event(event, settings) for event in events]
    return events


def listed_event(sim: Simulation, clinic: Clinic, visit: Visit) -> Any:
    """One event as the control API shows it (the value traits applied)."""
    return traits.shown_event(shapes.calendar_event(clinic, visit, sim.clock.now()), sim.settings)


def _calendar(sim: Simulation, clinic: Clinic, request: Request) -> Response:
    start = parse_wall_clock(request.query_params.get("start"))
    end = parse_wall_clock(request.query_params.get("end"))
    if start is None or end is None:
        return bad_request("start and end are required as YYYY-MM-DD HH:MM:SS")
    if len(request.query_params.get("end", "")) == len("YYYY-MM-DD"):
        end = end.replace(hour=23, minute=59, second=59)
    if (end - start).days > MAX_RANGE_DAYS:
        return bad_request(f"range longer than {MAX_RANGE_DAYS} days")

    def build() -> Any:
        # Encoding traits and corruptions apply to what IDEXX serves, not to the control
        # API's listing (the truth); a corruption has the last word.
        settings = sim.settings
        events = calendar_events(sim, clinic, start, end)
        if traits.encodes_events(settings):
            events = [traits.served_event(event, settings) for event in events]
        events = sim.corruptions.calendar(events)
        return {"events": events} if sim.settings.calendar_envelope == "events" else events

    return sim.rendered_json(("calendar", clinic.index, start, end), build)


def _page_data(sim: Simulation, clinic: Clinic, raw_id: str) -> Response:
    now = sim.clock.now()
    visit = sim.world.visit_for_consultation(int(raw_id)) if raw_id.isdigit() else None
    if (
        visit is None
        or visit.clinic_index != clinic.index
        or not timeline.has_consultation(visit, now)
    ):
        return not_found(f"Consultation {raw_id} not found")
    settings = sim.settings

    def build() -> Any:
        data = shapes.page_data(clinic, visit, now, notes_key=not settings.omit_consultation_notes)
        if settings.refuse_unfinished and data["consultation"]["status"] == "in_progress":
            return traits.REFUSAL  # 200 JSON: "not finalised", served as is
        return sim.corruptions.page_data(
            visit.consultation_id, traits.page_data(data, visit, settings)
        )

    return sim.rendered_json(("page-data", visit.id), build)


def _folded(text: str) -> str:
    """Case- and accent-insensitive form, so "munoz" finds MUÑOZ."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _search(sim: Simulation, clinic: Clinic, request: Request) -> Response:
    query = _folded(request.query_params.get("q", "")).split()
    try:
        limit = max(1, min(int(request.query_params.get("limit", "100")), 500))
    except ValueError:
        return bad_request("limit must be a number")
    found = []
    if query:
        for patient in clinic.patients.values():
            client = clinic.clients.get(patient.client_id)
            haystack = _folded(
                f"{patient.name} {patient.id} "
                f"{client.first_name + ' ' + client.last_name if client else ''}"
            )
            if all(word in haystack for word in query):
                found.append(patient)
                if len(found) >= limit:
                    break
    today = sim.clock.now().date()
    objects = [
        traits.search_patient(shapes.search_patient(clinic, patient, today), sim.settings)
        for patient in found
    ]
    return JSONResponse(
        {"results": {"patients": {"data": [], "objects": []}, "suggested": {"objects": objects}}}
    )
