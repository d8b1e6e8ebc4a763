"""Issue 20 at the HTTP edge: metrics labels and token, deactivated clinics, headers, docs.

Each test makes the attack of its finding against the real app under uvicorn (a real
database, the fake PIMS of `api_stack`) and checks the answer; docs/security.md says
what each control does.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from pims_sync.adapters.sql import tables
from pims_sync.api.app import create_app
from pims_sync.bootstrap import build_services
from pims_sync.cli.console.client import METRICS_REFUSED, ServiceClient
from pims_sync.cli.console.model import requests_total
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import ClinicInactiveError, KeyRejectedError, ServiceError
from pims_sync.settings import load_settings
from pims_sync.sync.request import SyncRequest
from tests.reliability.api_stack import HostileApi, check_envelope, running_api

KNOWN_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
HTTP_SERIES = "pims_sync_http_requests_total"
METRICS_TOKEN = "metrics-token-for-the-tests-0123456789"
DOCS = ("/docs", "/redoc", "/docs/oauth2-redirect")


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> Iterator[Any]:
    """The service with its defaults (no metrics token, docs on)."""
    with running_api("sqlite", request, tmp_path_factory.mktemp("security")) as running:
        yield running


@pytest.fixture(scope="module")
def locked(
    tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Any]:
    """The service as production runs it: a metrics token, ENVIRONMENT=production."""
    tmp = tmp_path_factory.mktemp("locked")
    settings = {"metrics_token": METRICS_TOKEN, "environment": "production"}
    with running_api("sqlite", request, tmp, **settings) as running:
        yield running


def client(api: HostileApi, **headers: str) -> httpx.Client:
    """A client of the running service."""
    return httpx.Client(base_url=api.base_url, headers=headers, timeout=30)


def http_series(text: str) -> set[tuple[str, str, str]]:
    """The (method, route, status) label sets of the HTTP request counter."""
    return {
        (s.labels["method"], s.labels["route"], s.labels["status"])
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name == HTTP_SERIES
    }


def route_templates() -> set[str]:
    """Every route template the app has."""
    app = create_app(load_settings(database_url="sqlite://", encryption_key="x" * 32))
    return {route.path for route in iter_route_contexts(app.routes)}


def invent(api: HostileApi, batch: str, count: int) -> None:
    """Requests with invented methods and raw paths, as an attacker sends them (20 at once)."""

    async def send_all() -> None:
        limit = asyncio.Semaphore(20)
        async with httpx.AsyncClient(base_url=api.base_url, timeout=30) as http:

            async def one(method: str, path: str) -> None:
                async with limit:
                    await http.request(method, path)

            requests = []
            for n in range(count):
                requests.append(one(f"X{batch}{n:04d}", "/health"))
                requests.append(one(f"Y{batch}{n:04d}", f"/api/sync/{uuid.uuid4()}"))
                requests.append(one("GET", f"/no/such/{batch}/{n}/{uuid.uuid4()}"))
            await asyncio.gather(*requests)

    asyncio.run(send_all())


# --- 1. Metrics --------------------------------------------------------------------------


def test_invented_methods_and_paths_leave_the_metric_labels_bounded(api: HostileApi) -> None:
    with client(api) as http:
        http.get("/metrics")  # so the scrapes below count themselves in both
        invent(api, "a", 150)
        first = http_series(http.get("/metrics").text)
        invent(api, "b", 150)
        second = http_series(http.get("/metrics").text)
    methods = {method for method, _, _ in second}
    routes = {route for _, route, _ in second}
    assert methods <= KNOWN_METHODS | {"OTHER"}, sorted(methods - KNOWN_METHODS)[:5]
    assert "OTHER" in methods
    assert routes <= route_templates() | {"unmatched"}, sorted(routes)[:5]
    # 150 new invented methods and 300 new paths later, not one new series.
    assert second == first


def test_metrics_need_the_token_when_one_is_set(locked: HostileApi) -> None:
    with client(locked) as http:
        missing = http.get("/metrics")
        wrong = http.get("/metrics", headers={"Authorization": "Bearer not-the-token"})
        basic = http.get("/metrics", headers={"Authorization": f"Basic {METRICS_TOKEN}"})
        right = http.get("/metrics", headers={"Authorization": f"Bearer {METRICS_TOKEN}"})
    for refused, code in ((missing, "missing_metrics_token"), (wrong, "invalid_metrics_token")):
        assert refused.status_code == 401, refused.text
        assert check_envelope(401, refused.json())["code"] == code
        assert refused.headers["www-authenticate"] == "Bearer"
        assert HTTP_SERIES not in refused.text
    assert basic.status_code == 401
    assert right.status_code == 200
    assert HTTP_SERIES in right.text
    # The refusals were counted: the token guards reading, not counting.
    assert any(
        status == "401" for _, route, status in http_series(right.text) if route == "/metrics"
    )


def test_the_console_reads_metrics_with_the_token(locked: HostileApi) -> None:
    """`pims-sync cli --metrics-token` (PIMS_SYNC_METRICS_TOKEN) keeps its health screen."""

    async def scrape(token: str | None) -> str:
        console = ServiceClient(locked.base_url, locked.who.clinic_key, metrics_token=token)
        try:
            return await console.metrics_text()
        finally:
            await console.aclose()

    asyncio.run(scrape(METRICS_TOKEN))
    assert requests_total(asyncio.run(scrape(METRICS_TOKEN))) > 0  # the first scrape, counted
    with pytest.raises(ServiceError) as refused:
        asyncio.run(scrape(None))
    assert refused.value.message == METRICS_REFUSED
    assert not isinstance(refused.value, KeyRejectedError)  # the API key was fine


def test_metrics_are_open_without_a_token(api: HostileApi) -> None:
    with client(api) as http:
        answer = http.get("/metrics")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")


# --- 9. Deactivated clinics --------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def deactivated(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileApi]:
    """A service whose first clinic (the one with a key) has been deactivated."""
    with running_api(request.param, request, tmp_path_factory.mktemp("inactive")) as running:
        clinics = tables.clinics
        with running.db.begin() as conn:
            conn.execute(
                update(clinics).where(clinics.c.id == running.who.clinic_id).values(is_active=False)
            )
        yield running


BOOKING = {"patientId": "1", "date": "2030-06-11", "startTime": "09:00", "reason": "Exam"}
AUTHENTICATED: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/api/clinic", None),
    ("POST", "/api/clinic/credentials/test", {}),
    ("GET", "/api/sync/history", None),
    ("GET", "/api/events", None),
    ("GET", "/api/scheduler/status", None),
    ("GET", "/api/sync/{run}", None),
    ("GET", "/api/sync/{run}/events", None),
    ("PATCH", "/api/scheduler/schedules", {"type": "inbound", "cron": "0 6 * * *"}),
    ("GET", "/api/availability", None),
    ("GET", "/api/availability/next", None),
    ("GET", "/api/booking/config", None),
    ("PUT", "/api/booking/config", {"slotMinutes": 30}),
    ("POST", "/api/availability/holds", {"start": "2030-06-11T09:00:00Z", "duration": 30}),
    ("DELETE", "/api/availability/holds/{run}", None),
    ("POST", "/api/appointments/search-patient", {"query": "REX", "limit": 5}),
    ("POST", "/api/appointments/create", BOOKING),
    ("POST", "/api/appointments/cancel", {"appointmentId": "123"}),
    ("POST", "/api/appointments/reschedule", {**BOOKING, "cancelAppointmentId": "123"}),
    *[
        ("POST", f"/api/sync/{path}", body)
        for path in ("inbound", "cases", "reconcile", "full", "outbound/cases", "outbound/full")
        for body in ({}, {"async": True})
    ],
]


def test_a_deactivated_clinic_is_refused_everywhere(deactivated: HostileApi) -> None:
    who = deactivated.who
    before = deactivated.snapshot()
    run = str(uuid.uuid4())
    as_clinic = {"X-API-Key": who.clinic_key}
    as_service = {"X-API-Key": who.service_key}
    message = f"Clinic is deactivated: {who.clinic_id}"
    with client(deactivated) as http:
        for method, path, body in AUTHENTICATED:
            url = path.replace("{run}", run)
            for headers, named in ((as_clinic, False), (as_service, True)):
                kwargs: dict[str, Any] = {"headers": headers}
                if body is not None:
                    kwargs["json"] = {**body, "clinicId": str(who.clinic_id)} if named else body
                elif named:
                    kwargs["params"] = {"clinicId": str(who.clinic_id)}
                answer = http.request(method, url, **kwargs)
                context = (method, url, named, answer.text[:200])
                assert answer.status_code == 403, context
                envelope = check_envelope(403, answer.json())
                assert (envelope["code"], envelope["error"]) == ("clinic_inactive", message)
        # The service key's list of every clinic leaves the deactivated one out.
        listed = http.get("/api/scheduler/status", headers=as_service)
        assert listed.status_code == 200
        assert str(who.clinic_id) not in listed.text
    assert deactivated.snapshot() == before
    assert deactivated.provider.logins == 0


def test_the_pipeline_refuses_a_deactivated_clinic_for_every_trigger(
    deactivated: HostileApi,
) -> None:
    """Schedules and the CLI start runs through the same service: refused there too."""

    async def attempt(trigger: Trigger) -> None:
        services = build_services(deactivated.settings)
        services.pims_provider = deactivated.provider
        try:
            request = SyncRequest(
                clinic_id=deactivated.who.clinic_id,
                sync_type=SyncType.INBOUND,
                triggered_by=trigger,
            )
            with pytest.raises(ClinicInactiveError) as refused:
                await services.sync.start(request)
            assert refused.value.code == "clinic_inactive"
        finally:
            await services.aclose()

    before = deactivated.snapshot()
    for trigger in (Trigger.SCHEDULER, Trigger.CLI, Trigger.API):
        asyncio.run(attempt(trigger))
    assert deactivated.snapshot() == before
    assert deactivated.provider.logins == 0


# --- 12. Headers and the interactive docs -------------------------------------------------


def test_every_answer_says_no_store_and_nosniff(api: HostileApi) -> None:
    key = {"X-API-Key": api.who.clinic_key}
    with client(api) as http:
        answers = {
            "clinic": http.get("/api/clinic", headers=key),
            "history": http.get("/api/sync/history", headers=key),
            "sync": http.post("/api/sync/inbound", json={"daysAhead": 1}, headers=key),
            "no key": http.get("/api/clinic"),
            "wrong clinic": http.get(
                "/api/clinic", params={"clinicId": str(api.who.other_clinic_id)}, headers=key
            ),
            "unknown run": http.get(f"/api/sync/{uuid.uuid4()}", headers=key),
            "bad body": http.post("/api/sync/inbound", content=b"{", headers=key),
            "health": http.get("/health"),
            "unknown path": http.get("/nowhere"),
        }
        with http.stream(
            "GET", f"/api/sync/{answers['sync'].json()['syncId']}/events", headers=key
        ) as events:
            answers["events"] = events
    assert answers["sync"].status_code == 200
    assert answers["events"].status_code == 200
    for name, answer in answers.items():
        assert answer.headers.get("cache-control") == "no-store", (name, answer.headers)
        assert answer.headers.get("x-content-type-options") == "nosniff", (name, answer.headers)


def test_interactive_docs_are_off_in_production(locked: HostileApi, api: HostileApi) -> None:
    with client(locked) as http:
        for path in DOCS:
            assert http.get(path).status_code == 404, path
        # The schema stays: it is the API's contract, and lists nothing secret.
        assert http.get("/openapi.json").status_code == 200
    with client(api) as http:
        for path in ("/docs", "/redoc"):
            assert http.get(path).status_code == 200, path


def test_docs_can_be_switched_either_way() -> None:
    production = {"database_url": "sqlite://", "encryption_key": "x" * 32}
    on = create_app(load_settings(**production, environment="production", api_docs=True))
    off = create_app(load_settings(**production, environment="development", api_docs=False))
    assert (on.docs_url, on.redoc_url) == ("/docs", "/redoc")
    assert (off.docs_url, off.redoc_url) == (None, None)
