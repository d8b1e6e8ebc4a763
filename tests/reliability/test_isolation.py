"""Tenant isolation: a key of clinic A reaches nothing of clinic B, through any route.

The routes come from the app itself (`app.routes`, with their methods): a route added
without a case here fails `test_every_route_has_an_isolation_case`. Each case runs on a
real database (SQLite and Postgres) where both clinics have runs (a full run with its
phase rows, and for B one still in progress), history, schedules and fires.

What a case proves, per route (docs/api.md, "Isolation"):
- another clinic's run is 404 `sync_not_found`, exactly like an unknown id (no existence
  leak), for its status, its phases and its events, live or finished;
- naming another clinic (`clinicId`, body or query) is 403 `clinic_forbidden`, the same
  answer for an existing and an unknown clinic, and starts or changes nothing of it;
- lists (history, scheduler status, webhooks) hold the key's clinic only; another
  clinic's webhook endpoint is 404 `webhook_not_found`, like an unknown one;
- a service key must name its clinic: 400 `clinic_id_required` where a route acts on
  one, 404 `clinic_not_found` for an unknown one (only the scheduler status lists every
  clinic without one, as docs/api.md#isolation says);
- an answer to A's key never carries B's id, name or run ids;
- positive controls: the same requests for A's own data succeed, so a 404 or an empty
  list cannot pass by accident.
Key checks themselves (401s, permissions) are in tests/integration/api/test_auth.py.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from pydantic import SecretStr

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.api.app import create_app
from pims_sync.api.auth import CLINIC_REQUIRED
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.booking import parse_rules
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.mirror import EntryKind, MirrorEntry, MirrorListing
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.settings import load_settings
from tests.integration.api.conftest import api_settings, client_for, insert_key
from tests.integration.api.test_sync_routes import PASSWORD, appointments

SYNC_POSTS = (
    "/api/sync/inbound",
    "/api/sync/cases",
    "/api/sync/reconcile",
    "/api/sync/full",
    "/api/sync/outbound/cases",
    "/api/sync/outbound/enrich",
    "/api/sync/outbound/full",
)
RUN_PATHS = ("/api/sync/{syncId}", "/api/sync/{syncId}/events")
DOCS_PATHS = ("/openapi.json", "/docs", "/docs/oauth2-redirect", "/redoc")  # GET and HEAD
PUBLIC_PATHS = ("/", "/health", "/ready", "/metrics", *DOCS_PATHS)
AVAILABILITY_PATHS = ("/api/availability", "/api/availability/next")
# A calendar column only clinic B's mirror has, and B's own slot length.
B_COLUMN, B_SLOT_MINUTES = "b-only-column", 25
EVERY_DAY = {
    "openingHours": {
        day: ["08:00-18:00"]
        for day in ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
    }
}
# A's mirror names no column (the fake PIMS's visits have none): its rules name one.
A_RULES = {**EVERY_DAY, "bookableResourceIds": ["7"]}


@dataclass
class World:
    """Two clinics with data, a key for each, a service key, and a client."""

    http: httpx.AsyncClient
    services: Services
    a: Clinic
    b: Clinic
    key_a: dict[str, str]
    key_b: dict[str, str]
    service: dict[str, str]
    runs_a: list[str]  # A's full run, then its phases
    runs_b: list[str]  # B's full run, its phases, then its live run
    problems: list[str] = field(default_factory=list)

    webhooks: dict[uuid.UUID, str] = field(default_factory=dict)  # one endpoint per clinic

    async def webhook(self, clinic: Clinic) -> str:
        """The clinic's endpoint (added on first use, to a public address literal)."""
        if clinic.id not in self.webhooks:
            added, _ = await self.services.webhook_admin.add(
                clinic_id=clinic.id, url="http://93.184.216.34/hooks"
            )
            self.webhooks[clinic.id] = str(added.id)
        return self.webhooks[clinic.id]

    def traces_of_b(self) -> list[str]:
        """What must never appear in an answer to A's key."""
        return [str(self.b.id), self.b.name, *self.runs_b, B_COLUMN]

    def expect(self, route: str, condition: bool, what: str) -> None:
        """Collect a failure, so one run reports every broken route."""
        if not condition:
            self.problems.append(f"{route}: {what}")

    def expect_refused(
        self, route: str, response: httpx.Response, status: int, code: str, message: str
    ) -> None:
        """The envelope with this status, code and message."""
        body = _json(response)
        got = (response.status_code, body.get("code"), body.get("error"))
        self.expect(route, got == (status, code, message), f"expected {status} {code}, got {got}")

    def expect_clean(self, route: str, response: httpx.Response) -> None:
        """Nothing of clinic B in an answer to A."""
        leaked = [trace for trace in self.traces_of_b() if trace in response.text]
        self.expect(route, not leaked, f"answer to A's key shows B's data {leaked}")


def _json(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


async def _run_count(world: World, clinic: Clinic) -> int:
    return len(await world.services.runs.history(clinic_id=clinic.id, limit=100))


async def _schedules(world: World, clinic: Clinic) -> list[Any]:
    config = await world.services.schedules.get(clinic.id)
    return list(config.entries) if config is not None else []


# --- the cases, one per (method, path) ---------------------------------------------------


async def public_route(world: World, method: str, path: str) -> None:
    """Unauthenticated routes show no clinic's id, name or runs."""
    response = await world.http.request(method, path)
    world.expect(f"{method} {path}", response.status_code < 500, f"{response.status_code}")
    traces = [str(world.a.id), world.a.name, *world.runs_a, *world.traces_of_b()]
    leaked = [trace for trace in traces if trace in response.text]
    world.expect(f"{method} {path}", not leaked, f"unauthenticated answer shows {leaked}")


async def clinic_info(world: World, method: str, path: str) -> None:
    """`GET /api/clinic`: A's own; B by name is 403; a service key must name one."""
    route = f"{method} {path}"
    own = await world.http.get(path, headers=world.key_a)
    world.expect(route, _json(own).get("clinic", {}).get("id") == str(world.a.id), own.text)
    world.expect_clean(route, own)
    await _foreign_query(world, route, path)
    await _service_needs_clinic(world, route, "GET", path, lambda clinic: {"clinicId": clinic})
    named = await world.http.get(path, params={"clinicId": str(world.a.id)}, headers=world.service)
    world.expect(route, _json(named).get("clinic", {}).get("id") == str(world.a.id), named.text)


async def clinic_freshness(world: World, method: str, path: str) -> None:
    """`GET /api/clinic/freshness`: A's own; B by name is 403; a service key must name one."""
    route = f"{method} {path}"
    own = await world.http.get(path, headers=world.key_a)
    world.expect(route, _json(own).get("clinicId") == str(world.a.id), own.text)
    world.expect_clean(route, own)
    await _foreign_query(world, route, path)
    await _service_needs_clinic(world, route, "GET", path, lambda clinic: {"clinicId": clinic})
    named = await world.http.get(path, params={"clinicId": str(world.a.id)}, headers=world.service)
    world.expect(route, _json(named).get("clinicId") == str(world.a.id), named.text)


async def change_clinic(world: World, method: str, path: str) -> None:
    """`PATCH /api/clinic`: A's key cannot pause B; its own pause and resume touch only A."""
    route = f"{method} {path}"
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        body = {"clinicId": clinic_id, "paused": True}
        response = await world.http.patch(path, json=body, headers=world.key_a)
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)
    for paused in (True, False):
        own = await world.http.patch(path, json={"paused": paused}, headers=world.key_a)
        world.expect(route, own.status_code == 200, f"A's own change: {own.text}")
        world.expect_clean(route, own)
    await _service_needs_clinic(
        world, route, "PATCH", path, lambda clinic: {"json": {"clinicId": clinic, "paused": True}}
    )
    world.expect(route, await world.services.health.paused() == set(), "a clinic stayed paused")


async def login_check(world: World, method: str, path: str) -> None:
    """`POST /api/clinic/credentials/test`: B named by A's key is 403 and spends no login of B."""
    route = f"{method} {path}"
    day = datetime.now(UTC).date()
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        response = await world.http.post(path, json={"clinicId": clinic_id}, headers=world.key_a)
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)
    await _service_needs_clinic(
        world, route, "POST", path, lambda clinic: {"json": {"clinicId": clinic}}
    )
    logins = await world.services.ledger.logins(world.b.id, day)
    world.expect(route, logins == 0, "a PIMS login of B was spent")


async def start_sync(world: World, method: str, path: str) -> None:
    """POST sync routes (and aliases): B named by A's key is 403 and starts nothing."""
    route = f"{method} {path}"
    before = await _run_count(world, world.b)
    unknown = str(uuid.uuid4())
    for clinic_id in (str(world.b.id), unknown):
        for body in ({"clinicId": clinic_id}, {"clinicId": clinic_id, "async": True}):
            response = await world.http.post(path, json=body, headers=world.key_a)
            message = f"API key does not belong to clinic {clinic_id}"
            world.expect_refused(route, response, 403, "clinic_forbidden", message)
    world.expect(route, await _run_count(world, world.b) == before, "a run of B was started")
    await _service_needs_clinic(
        world, route, "POST", path, lambda clinic: {"json": {"clinicId": clinic}}
    )
    world.expect(route, await _run_count(world, world.b) == before, "a run of B was started")


async def read_run(world: World, method: str, path: str) -> None:
    """A run of B (top-level, phase or live) is 404 to A, exactly like an unknown run."""
    route = f"{method} {path}"
    url = path.replace("{syncId}", world.runs_a[0])
    own = await world.http.get(url, headers=world.key_a)
    world.expect(route, own.status_code == 200, f"A's own run: {own.status_code}")
    world.expect_clean(route, own)
    for run_id in (*world.runs_b, str(uuid.uuid4())):
        url = path.replace("{syncId}", run_id)
        hidden = await world.http.get(url, headers=world.key_a)
        message = f"Sync run not found: {run_id}"
        world.expect_refused(route, hidden, 404, "sync_not_found", message)
        as_service = await world.http.get(
            url, params={"clinicId": str(world.a.id)}, headers=world.service
        )
        world.expect_refused(route, as_service, 404, "sync_not_found", message)
    url = path.replace("{syncId}", world.runs_b[0])
    await _foreign_query(world, route, url)
    await _service_needs_clinic(world, route, "GET", url, lambda clinic: {"clinicId": clinic})
    mine = await world.http.get(url, params={"clinicId": str(world.b.id)}, headers=world.key_b)
    world.expect(route, mine.status_code == 200, f"B's own run for B: {mine.status_code}")


async def history(world: World, method: str, path: str) -> None:
    """History lists the key's clinic only."""
    route = f"{method} {path}"
    for headers, params in ((world.key_a, {}), (world.service, {"clinicId": str(world.a.id)})):
        listed = await world.http.get(path, params=params, headers=headers)
        ids = {run["syncId"] for run in _json(listed).get("runs", [])}
        world.expect(route, ids == {world.runs_a[0]}, f"A's history is {ids}")
        world.expect_clean(route, listed)
    await _foreign_query(world, route, path)
    await _service_needs_clinic(world, route, "GET", path, lambda clinic: {"clinicId": clinic})


async def event_feed(world: World, method: str, path: str) -> None:
    """The event feed holds the key's clinic's events only (B's runs' events never)."""
    route = f"{method} {path}"
    for headers, params in ((world.key_a, {}), (world.service, {"clinicId": str(world.a.id)})):
        feed = _json(await world.http.get(path, params=params, headers=headers))
        subjects = {event["subjectId"] for event in feed.get("events", [])}
        world.expect(route, feed.get("clinicId") == str(world.a.id), f"feed of {feed}")
        # Positive control: A's finished full run is in A's feed.
        world.expect(route, world.runs_a[0] in subjects, f"A's feed has {subjects}")
        world.expect(route, not subjects & set(world.runs_b), "B's runs in A's feed")
        world.expect_clean(route, await world.http.get(path, params=params, headers=headers))
    await _foreign_query(world, route, path)
    await _service_needs_clinic(world, route, "GET", path, lambda clinic: {"clinicId": clinic})


async def webhooks_of_clinic(world: World, method: str, path: str) -> None:
    """Listing shows the key's clinic's endpoints only; adding one for B is 403."""
    route = f"{method} {path}"
    mine, theirs = await world.webhook(world.a), await world.webhook(world.b)
    if method == "GET":
        for headers, params in ((world.key_a, {}), (world.service, {"clinicId": str(world.a.id)})):
            listed = await world.http.get(path, params=params, headers=headers)
            ids = {hook["id"] for hook in _json(listed).get("webhooks", [])}
            world.expect(route, mine in ids and theirs not in ids, f"A's webhooks are {ids}")
            world.expect_clean(route, listed)
        await _foreign_query(world, route, path)
        await _service_needs_clinic(world, route, "GET", path, lambda c: {"clinicId": c})
        return
    before_b = await world.services.webhooks.endpoints(world.b.id)
    body = {"url": "http://93.184.216.34/other"}
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        response = await world.http.post(
            path, json={**body, "clinicId": clinic_id}, headers=world.key_a
        )
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)
    own = await world.http.post(path, json=body, headers=world.key_a)
    world.expect(route, own.status_code == 201, f"A's own webhook: {own.status_code} {own.text}")
    world.expect(route, _json(own).get("webhook", {}).get("clinicId") == str(world.a.id), own.text)
    world.expect_clean(route, own)
    await _service_needs_clinic(
        world, route, "POST", path, lambda c: {"json": {**body, "clinicId": c}}
    )
    after_b = await world.services.webhooks.endpoints(world.b.id)
    world.expect(route, after_b == before_b, "B's webhooks changed")


async def one_webhook(world: World, method: str, path: str) -> None:
    """B's endpoint is 404 `webhook_not_found` for A's key, like an unknown id; untouched."""
    route = f"{method} {path}"
    theirs = await world.webhook(world.b)
    before_b = await world.services.webhooks.endpoints(world.b.id)
    query = {"fromSeq": "1"} if path.endswith("/replay") else {}
    for webhook in (theirs, str(uuid.uuid4())):
        url = path.replace("{webhook_id}", webhook)
        response = await world.http.request(method, url, params=query, headers=world.key_a)
        message = f"no webhook with id {webhook}"
        world.expect_refused(route, response, 404, "webhook_not_found", message)
    world.expect(
        route, await world.services.webhooks.endpoints(world.b.id) == before_b, "B's changed"
    )
    # Positive control: A's own (a throwaway one for DELETE).
    if method == "DELETE":
        added, _ = await world.services.webhook_admin.add(
            clinic_id=world.a.id, url="http://93.184.216.34/gone"
        )
        own_id = str(added.id)
    else:
        own_id = await world.webhook(world.a)
    own_url = path.replace("{webhook_id}", own_id)
    own = await world.http.request(method, own_url, params=query, headers=world.key_a)
    world.expect(route, own.status_code in (200, 202), f"A's own: {own.status_code} {own.text}")
    world.expect_clean(route, own)
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        named = {**query, "clinicId": clinic_id}
        response = await world.http.request(method, own_url, params=named, headers=world.key_a)
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)


async def scheduler_status(world: World, method: str, path: str) -> None:
    """Status lists the key's clinic's jobs only; a service key may list every clinic."""
    route = f"{method} {path}"
    for headers, params in ((world.key_a, {}), (world.service, {"clinicId": str(world.a.id)})):
        status = _json(await world.http.get(path, params=params, headers=headers))
        clinics = {job["clinicId"] for job in status.get("jobs", [])}
        world.expect(route, clinics == {str(world.a.id)}, f"jobs of {clinics}")
        world.expect(route, status.get("totalJobs") == 1, f"totalJobs {status.get('totalJobs')}")
        world.expect(route, str(world.b.id) not in str(status), "B appears in A's status")
    await _foreign_query(world, route, path)
    every = _json(await world.http.get(path, headers=world.service))
    clinics = {job["clinicId"] for job in every.get("jobs", [])}
    world.expect(route, clinics == {str(world.a.id), str(world.b.id)}, f"service: {clinics}")
    unknown = uuid.uuid4()
    response = await world.http.get(path, params={"clinicId": str(unknown)}, headers=world.service)
    world.expect_refused(route, response, 404, "clinic_not_found", f"Clinic not found: {unknown}")


async def change_schedule(world: World, method: str, path: str) -> None:
    """A's key cannot change B's schedules; its own change touches only A."""
    route = f"{method} {path}"
    before_b = await _schedules(world, world.b)
    unknown = str(uuid.uuid4())
    for clinic_id in (str(world.b.id), unknown):
        for change in (
            {"clinicId": clinic_id, "type": "inbound", "enabled": False},
            {"clinicId": clinic_id, "type": "full", "cron": "0 3 * * *"},
        ):
            response = await world.http.patch(path, json=change, headers=world.key_a)
            message = f"API key does not belong to clinic {clinic_id}"
            world.expect_refused(route, response, 403, "clinic_forbidden", message)
    own = await world.http.patch(
        path, json={"type": "inbound", "enabled": False}, headers=world.key_a
    )
    world.expect(route, own.status_code == 200, f"A's own change: {own.status_code} {own.text}")
    world.expect_clean(route, own)
    change = {"type": "inbound", "enabled": False}
    await _service_needs_clinic(
        world, route, "PATCH", path, lambda clinic: {"json": {**change, "clinicId": clinic}}
    )
    world.expect(route, await _schedules(world, world.b) == before_b, "B's schedules changed")
    entries = await _schedules(world, world.a)
    world.expect(route, entries[0].get("enabled") is False, f"A's schedules: {entries}")


def _columns(answer: dict[str, Any]) -> set[str]:
    """Every column an availability answer lists."""
    slots = answer.get("slots", []) + [s for day in answer.get("days", []) for s in day["slots"]]
    return {column for slot in slots for column in slot["resourceIds"]}


async def free_slots(world: World, method: str, path: str) -> None:
    """Availability of A is computed from A's mirror and rules only; B by name is 403."""
    route = f"{method} {path}"
    params = {"date": str(_tomorrow(world.a)), "days": "2"} if path.endswith("availability") else {}
    for headers, extra in ((world.key_a, {}), (world.service, {"clinicId": str(world.a.id)})):
        own = await world.http.get(path, params={**params, **extra}, headers=headers)
        body = _json(own)
        world.expect(route, body.get("clinicId") == str(world.a.id), own.text[:300])
        world.expect(route, bool(_columns(body)), f"A's answer has no slot: {own.text[:300]}")
        world.expect_clean(route, own)
    mine = await world.http.get(path, params=params, headers=world.key_b)
    world.expect(route, B_COLUMN in _columns(_json(mine)), "B's own column missing for B")
    await _foreign_query(world, route, path)
    await _service_needs_clinic(world, route, "GET", path, lambda clinic: {"clinicId": clinic})


async def booking_rules(world: World, method: str, path: str) -> None:
    """A reads and sets A's rules only; B's rules are neither shown nor changed."""
    route = f"{method} {path}"
    before_b = await world.services.booking.get(world.b.id)
    if method == "GET":
        own = await world.http.get(path, headers=world.key_a)
        world.expect(route, _json(own).get("clinicId") == str(world.a.id), own.text[:200])
        slot = _json(own).get("rules", {}).get("slotMinutes")
        world.expect(route, slot == 15, f"A's slot length {slot}")
        world.expect_clean(route, own)
        await _foreign_query(world, route, path)
        await _service_needs_clinic(world, route, "GET", path, lambda clinic: {"clinicId": clinic})
        return
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        body = {**EVERY_DAY, "clinicId": clinic_id, "slotMinutes": 5}
        response = await world.http.put(path, json=body, headers=world.key_a)
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)
    own = await world.http.put(path, json=A_RULES, headers=world.key_a)
    world.expect(route, own.status_code == 200, f"A's own change: {own.text[:200]}")
    world.expect_clean(route, own)
    await _service_needs_clinic(
        world, route, "PUT", path, lambda clinic: {"json": {**EVERY_DAY, "clinicId": clinic}}
    )
    after_b = await world.services.booking.get(world.b.id)
    world.expect(route, after_b == before_b, "B's booking rules changed")


def _hold_body(clinic: Clinic, hour: int, **more: Any) -> dict[str, Any]:
    day = _tomorrow(clinic)
    start = datetime.combine(day, time(hour), tzinfo=clinic.zone).isoformat()
    return {"start": start, "duration": 30, **more}


async def place_hold(world: World, method: str, path: str) -> None:
    """A's key cannot hold B's slots; its own hold is on A's columns, never B's."""
    route = f"{method} {path}"
    before = await world.services.holds.live_between(
        clinic_id=world.b.id,
        start=datetime.now(UTC),
        end=datetime.now(UTC) + timedelta(days=3),
        now=datetime.now(UTC),
    )
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        body = _hold_body(world.b, 13, clinicId=clinic_id)
        response = await world.http.post(path, json=body, headers=world.key_a)
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)
    own = await world.http.post(path, json=_hold_body(world.a, 13), headers=world.key_a)
    world.expect(route, own.status_code == 201, f"A's own hold: {own.text[:200]}")
    world.expect(route, _json(own).get("resourceId") == "7", f"A's hold: {own.text[:200]}")
    world.expect_clean(route, own)
    # A's column name on B's key takes B's own column (never A's hold).
    mine = await world.http.post(
        path, json=_hold_body(world.b, 13, resourceId=B_COLUMN), headers=world.key_b
    )
    world.expect(route, mine.status_code == 201, f"B's own hold: {mine.text[:200]}")
    await _service_needs_clinic(
        world,
        route,
        "POST",
        path,
        lambda clinic: {"json": _hold_body(world.a, 14, clinicId=clinic)},
    )
    after = await world.services.holds.live_between(
        clinic_id=world.b.id,
        start=datetime.now(UTC),
        end=datetime.now(UTC) + timedelta(days=3),
        now=datetime.now(UTC),
    )
    world.expect(route, len(after) == len(before) + 1, "A's requests placed a hold for B")


async def release_hold(world: World, method: str, path: str) -> None:
    """B's hold is 404 to A, like an unknown one, and stays live."""
    route = f"{method} {path}"
    b_hold = await world.http.post(
        "/api/availability/holds",
        json=_hold_body(world.b, 15, resourceId=B_COLUMN),
        headers=world.key_b,
    )
    b_id = _json(b_hold).get("holdId", str(uuid.uuid4()))
    for hold_id in (b_id, str(uuid.uuid4())):
        url = path.replace("{hold_id}", hold_id)
        hidden = await world.http.delete(url, headers=world.key_a)
        world.expect_refused(route, hidden, 404, "hold_not_found", f"Hold not found: {hold_id}")
        as_service = await world.http.delete(
            url, params={"clinicId": str(world.a.id)}, headers=world.service
        )
        world.expect_refused(route, as_service, 404, "hold_not_found", f"Hold not found: {hold_id}")
    url = path.replace("{hold_id}", b_id)
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        response = await world.http.delete(url, params={"clinicId": clinic_id}, headers=world.key_a)
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)
    await _service_needs_clinic(world, route, "DELETE", url, lambda clinic: {"clinicId": clinic})
    still = await world.services.holds.get(clinic_id=world.b.id, hold_id=uuid.UUID(b_id))
    world.expect(route, still is not None and still.released_at is None, "B's hold was released")
    own = await world.http.post(
        "/api/availability/holds", json=_hold_body(world.a, 16), headers=world.key_a
    )
    gone = await world.http.delete(
        path.replace("{hold_id}", _json(own).get("holdId", "")), headers=world.key_a
    )
    world.expect(
        route, _json(gone).get("status") == "released", f"A's own release: {gone.text[:200]}"
    )


def _visit(clinic: Clinic, hour: int, minute: int = 0, **more: Any) -> dict[str, Any]:
    """A's half-hour visit tomorrow on column 7 for a patient of the fake PIMS."""
    start = time(hour, minute)
    end = (datetime.combine(date.min, start) + timedelta(minutes=30)).time()
    day = str(_tomorrow(clinic))
    fields = {"patientId": "0", "date": day, "reason": "Exam", "roomId": "7"}
    return {**fields, "startTime": f"{start:%H:%M}", "endTime": f"{end:%H:%M}", **more}


async def _booked(world: World, hour: int, key: str) -> str:
    """An appointment A books (its id), through the create route."""
    headers = {**world.key_a, "Idempotency-Key": key}
    made = await world.http.post(
        "/api/appointments/create", json=_visit(world.a, hour), headers=headers
    )
    return str(_json(made).get("appointment", {}).get("id", "none"))


async def booking_write(world: World, method: str, path: str) -> None:
    """Naming B (or no clinic) is 403 and writes nothing for B; A's own write goes through.

    Write requests are per clinic: B's key reusing A's Idempotency-Key is B's own request.
    """
    route = f"{method} {path}"
    bodies: dict[str, dict[str, Any]] = {
        "/api/appointments/search-patient": {"query": "PET", "limit": 5},
        "/api/appointments/create": _visit(world.a, 15),
        "/api/appointments/cancel": {"appointmentId": await _booked(world, 17, "iso-old-c")},
        "/api/appointments/reschedule": {
            **_visit(world.a, 12, 30),
            "cancelAppointmentId": await _booked(world, 12, "iso-old-r"),
        },
    }
    body = bodies[path]
    key = f"iso-{path.rsplit('/', 1)[-1]}"
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        headers = {**world.key_a, "Idempotency-Key": key}
        response = await world.http.post(
            path, json={**body, "clinicId": clinic_id}, headers=headers
        )
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)
    await _service_needs_clinic(
        world, route, "POST", path, lambda clinic: {"json": {**body, "clinicId": clinic}}
    )
    own = await world.http.post(path, json=body, headers={**world.key_a, "Idempotency-Key": key})
    world.expect(route, own.status_code == 200, f"A's own write: {own.text[:200]}")
    world.expect_clean(route, own)
    stored = await world.services.write_requests.get(clinic_id=world.b.id, key=key)
    world.expect(route, stored is None, "a write request of B was stored")


def _tomorrow(clinic: Clinic) -> date:
    return datetime.now(clinic.zone).date() + timedelta(days=1)


async def _clinic_b_schedule(world: World) -> None:
    """Each clinic's rules; B's block on a column only B's mirror has (tomorrow, 09:00-10:00).

    Both mirrors are read for the two weeks availability looks at: no answer here reads the
    PIMS again (that is tests/integration/api/test_availability_routes.py's matter).
    """
    services, b = world.services, world.b
    await services.booking.put(
        b.id, parse_rules({**EVERY_DAY, "slotMinutes": B_SLOT_MINUTES}), at=datetime.now(UTC)
    )
    await services.booking.put(world.a.id, parse_rules(A_RULES), at=datetime.now(UTC))
    day = _tomorrow(b)
    start = datetime.combine(day, time(9), tzinfo=b.zone).astimezone(UTC)
    block = MirrorEntry("b-block", EntryKind.BLOCK, start, start + timedelta(hours=1), B_COLUMN)
    today = day - timedelta(days=1)
    window = datetime.combine(today, time(0), tzinfo=b.zone).astimezone(UTC)
    days = [today + timedelta(days=n) for n in range(16)]
    for clinic, entries in ((world.a, {}), (b, {block.key: block})):
        listing = MirrorListing(window, window + timedelta(days=16), entries)
        await services.mirror.record(
            clinic_id=clinic.id, listing=listing, days=days, now=datetime.now(UTC)
        )


async def _foreign_query(world: World, route: str, url: str) -> None:
    """`?clinicId=` of B, or of no clinic at all, is the same 403 for A's key."""
    for clinic_id in (str(world.b.id), str(uuid.uuid4())):
        response = await world.http.get(url, params={"clinicId": clinic_id}, headers=world.key_a)
        message = f"API key does not belong to clinic {clinic_id}"
        world.expect_refused(route, response, 403, "clinic_forbidden", message)


async def _service_needs_clinic(
    world: World, route: str, method: str, url: str, naming: Callable[[str | None], dict[str, Any]]
) -> None:
    """A service key without a clinic is 400; with an unknown one, 404."""
    request: dict[str, Any] = naming(None)
    if "json" in request:
        request["json"] = {k: v for k, v in request["json"].items() if v is not None}
    else:
        request = {}
    response = await world.http.request(method, url, headers=world.service, **request)
    world.expect_refused(route, response, 400, "clinic_id_required", CLINIC_REQUIRED)
    unknown = str(uuid.uuid4())
    request = naming(unknown)
    if "json" not in request:
        request = {"params": request}
    response = await world.http.request(method, url, headers=world.service, **request)
    world.expect_refused(route, response, 404, "clinic_not_found", f"Clinic not found: {unknown}")


DASHBOARD_SECRET = "isolation-dashboard-secret-0123456789abcdef"
DASHBOARD_PAGES = ("/dashboard", "/dashboard/clinics", "/dashboard/clinics/table")


@asynccontextmanager
async def _dashboard_as_a(world: World) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the dashboard (on, same services) with A's key."""
    settings = world.services.settings.model_copy(
        update={"dashboard_secret": SecretStr(DASHBOARD_SECRET)}
    )
    app = create_app(settings, world.services)
    async with client_for(app) as browser:
        token = app.state.dashboard_links.issue(world.key_a["X-API-Key"])
        signed_in = await browser.get(f"/dashboard/sign-in?token={token}")
        assert signed_in.status_code == 303, signed_in.text
        yield browser


async def dashboard_page(world: World, method: str, path: str) -> None:
    """Dashboard pages signed in with A's key show A and nothing of B."""
    route = f"{method} {path}"
    async with _dashboard_as_a(world) as browser:
        response = await browser.get(path, follow_redirects=True)
    world.expect(route, response.status_code == 200, f"{response.status_code}")
    world.expect(route, world.a.name in response.text, "A's clinic is not shown")
    world.expect_clean(route, response)


async def dashboard_form(world: World, method: str, path: str) -> None:
    """Sign-in and sign-out forms answer A's browser without anything of B."""
    route = f"{method} {path}"
    async with _dashboard_as_a(world) as browser:
        form = await browser.get("/dashboard/sign-in")
        token = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
        world.expect(route, token is not None, "no CSRF token on the sign-in form")
        data = {"csrf_token": token.group(1) if token else "", "api_key": world.key_a["X-API-Key"]}
        response = await browser.post(path, data=data, follow_redirects=True)
    world.expect(route, response.status_code == 200, f"{response.status_code}")
    world.expect_clean(route, response)


async def dashboard_clinic(world: World, method: str, path: str) -> None:
    """B's clinic pages and forms (and an unknown clinic's) are 404 to A and change nothing."""
    route = f"{method} {path}"
    before_runs, before_schedules = (
        await _run_count(world, world.b),
        await _schedules(world, world.b),
    )
    async with _dashboard_as_a(world) as browser:
        own = await browser.get(f"/dashboard/clinics/{world.a.id}")
        token = re.search(r'name="csrf_token" value="([^"]+)"', own.text)
        form = {"csrf_token": token.group(1) if token else "", "kind": "full"}
        form |= {"type": "inbound", "enabled": "false"}
        targets = [(str(world.b.id), world.runs_b[0]), (str(uuid.uuid4()), world.runs_b[0])]
        targets.append((str(world.a.id), world.runs_b[-1]))  # B's run under A's clinic
        for clinic_id, run_id in targets:
            url = path.replace("{clinic_id}", clinic_id).replace("{run_id}", run_id)
            if "{run_id}" not in path and clinic_id == str(world.a.id):
                continue
            response = await browser.request(method, url, data=form if method == "POST" else None)
            world.expect(route, response.status_code == 404, f"{url}: {response.status_code}")
            world.expect_clean(route, response)
    world.expect(route, await _run_count(world, world.b) == before_runs, "a run of B was started")
    world.expect(
        route, await _schedules(world, world.b) == before_schedules, "B's schedules changed"
    )


async def dashboard_charts(world: World, method: str, path: str) -> None:
    """The charts count A's runs only: nothing of B, and B's runs are not counted."""
    route = f"{method} {path}"
    async with _dashboard_as_a(world) as browser:
        response = await browser.get(path)
    world.expect(route, response.status_code == 200, f"{response.status_code}")
    world.expect(route, "1 clinic;" in response.text, "the charts count other clinics")
    world.expect_clean(route, response)


async def dashboard_static(world: World, method: str, path: str) -> None:
    """The dashboard's static files are the same for anyone, with no clinic data."""
    await public_route(world, "GET", f"{path}/dashboard.css")


Case = Callable[[World, str, str], Awaitable[None]]
CASES: dict[tuple[str, str], Case] = {
    **{("GET", path): public_route for path in PUBLIC_PATHS},
    **{("HEAD", path): public_route for path in DOCS_PATHS},
    ("GET", "/api/clinic"): clinic_info,
    ("GET", "/api/clinic/freshness"): clinic_freshness,
    ("PATCH", "/api/clinic"): change_clinic,
    ("POST", "/api/clinic/credentials/test"): login_check,
    **{("POST", path): start_sync for path in SYNC_POSTS},
    **{("GET", path): read_run for path in RUN_PATHS},
    ("GET", "/api/sync/history"): history,
    ("GET", "/api/events"): event_feed,
    ("GET", "/api/scheduler/status"): scheduler_status,
    ("PATCH", "/api/scheduler/schedules"): change_schedule,
    **{("GET", path): free_slots for path in AVAILABILITY_PATHS},
    ("GET", "/api/booking/config"): booking_rules,
    ("POST", "/api/availability/holds"): place_hold,
    ("DELETE", "/api/availability/holds/{hold_id}"): release_hold,
    ("PUT", "/api/booking/config"): booking_rules,
    **{
        ("POST", f"/api/appointments/{name}"): booking_write
        for name in ("search-patient", "create", "cancel", "reschedule")
    },
    **{("GET", path): dashboard_page for path in DASHBOARD_PAGES},
    ("GET", "/dashboard/sign-in"): dashboard_form,
    ("POST", "/dashboard/sign-in"): dashboard_form,
    ("POST", "/dashboard/sign-out"): dashboard_form,
    ("WEBSOCKET", "/dashboard/static"): dashboard_static,
    ("GET", "/dashboard/charts"): dashboard_charts,
    ("GET", "/dashboard/clinics/{clinic_id}"): dashboard_clinic,
    ("POST", "/dashboard/clinics/{clinic_id}/sync"): dashboard_clinic,
    ("POST", "/dashboard/clinics/{clinic_id}/schedules"): dashboard_clinic,
    ("POST", "/dashboard/clinics/{clinic_id}/login-check"): dashboard_clinic,
    ("GET", "/dashboard/clinics/{clinic_id}/runs/{run_id}/events"): dashboard_clinic,
    ("GET", "/dashboard/clinics/{clinic_id}/runs/{run_id}"): dashboard_clinic,
    ("GET", "/api/webhooks"): webhooks_of_clinic,
    ("POST", "/api/webhooks"): webhooks_of_clinic,
    **{
        (method, f"/api/webhooks/{{webhook_id}}{tail}"): one_webhook
        for method, tail in (
            ("GET", ""),
            ("DELETE", ""),
            ("GET", "/deliveries"),
            ("POST", "/replay"),
        )
    },
}


def app_routes() -> set[tuple[str, str]]:
    """Every (method, path) the app answers, as FastAPI knows them."""
    app = create_app(load_settings(database_url="sqlite://", encryption_key="x" * 32))
    routes: set[tuple[str, str]] = set()
    for route in iter_route_contexts(app.routes):  # routers included in the app, flattened
        path = route.path.replace(":uuid}", "}")
        routes |= {(method, path) for method in route.methods or {"WEBSOCKET"}}
    return routes


def test_every_route_has_an_isolation_case() -> None:
    routes = app_routes()
    missing = sorted(routes - CASES.keys())
    assert not missing, "\n".join(f"route {m} {p} has no isolation case" for m, p in missing)
    stale = sorted(CASES.keys() - routes)
    assert not stale, f"isolation cases for routes that no longer exist: {stale}"


# --- the two clinics -----------------------------------------------------------------------


@pytest.fixture
async def services(migrated_database_url: str) -> AsyncIterator[Services]:
    """Services on a migrated SQLite or Postgres database."""
    built = build_services(api_settings(migrated_database_url))
    try:
        yield built
    finally:
        await built.aclose()


async def _full_run(http: httpx.AsyncClient, key: dict[str, str]) -> str:
    body = {"daysAhead": 1, "lookbackDays": 1}
    response = await http.post("/api/sync/full", json=body, headers=key)
    assert response.status_code == 200, response.text
    return str(response.json()["syncId"])


async def _clinic_with_data(services: Services, name: str, cron: str) -> tuple[Clinic, str]:
    clinic = await services.clinics.add(name=name, timezone="America/Chicago")
    await services.vault.save(clinic.id, PimsCredentials("vet@example.com", PASSWORD, "1001"))
    await services.schedules.put(clinic.id, [{"type": "inbound", "cron": cron}])
    fire_at = datetime.now(UTC) - timedelta(hours=1)
    await services.fires.skip(
        clinic_id=clinic.id,
        sync_type=SyncType.INBOUND,
        fire_at=fire_at,
        reason="clinic busy",
        by="test",
        at=fire_at,
    )
    _, key = await insert_key(services, clinic_id=clinic.id)
    return clinic, key


async def test_no_route_lets_clinic_a_reach_clinic_b(services: Services) -> None:
    services.pims_provider = FakeProvider(
        appointments=appointments("America/Chicago"), password=PASSWORD
    )
    a, key_a = await _clinic_with_data(services, "Clinic Alpha Isolation", "0 6 * * *")
    b, key_b = await _clinic_with_data(services, "Clinic Bravo Isolation", "0 7 * * *")
    _, service_key = await insert_key(services, clinic_id=None)
    async with client_for(create_app(services.settings, services)) as http:
        runs: dict[uuid.UUID, list[str]] = {}
        for clinic, key in ((a, key_a), (b, key_b)):
            run_id = await _full_run(http, {"X-API-Key": key})
            phases = await services.runs.children(clinic_id=clinic.id, parent_id=uuid.UUID(run_id))
            assert len(phases) == 3
            runs[clinic.id] = [run_id, *(str(phase.id) for phase in phases)]
        live = await services.runs.start(
            clinic_id=b.id,
            sync_type=SyncType.INBOUND,
            triggered_by=Trigger.API,
            at=datetime.now(UTC),
        )
        world = World(
            http=http,
            services=services,
            a=a,
            b=b,
            key_a={"X-API-Key": key_a},
            key_b={"X-API-Key": key_b},
            service={"X-API-Key": service_key},
            runs_a=runs[a.id],
            runs_b=[*runs[b.id], str(live.id)],
        )
        await _clinic_b_schedule(world)
        for (method, path), case in sorted(CASES.items()):
            await case(world, method, path)
    assert not world.problems, "\n".join(world.problems)
