"""Hostile input against the real HTTP API (issue 8), on SQLite and Postgres.

Every POST sync route, the schedule PATCH, and the GET routes with parameters get
oversized and pathological bodies, wrong types, dates out of range, invalid UUIDs,
SQL/JS/HTML, awkward unicode, bad query strings and bad API keys. Each must be refused
with a 4xx in the error envelope and a clear, short message (never the huge input
echoed back), with nothing written to the database (no run, no audit row, no case, no
schedule) and no login to the PIMS. A few valid requests at the edges show the rules
refuse only what they should.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from pims_sync.domain.run_options import MAX_WINDOW_DAYS, MAX_YEARS_AWAY
from tests.reliability.api_stack import MAX_MESSAGE_CHARS, HostileApi, check_envelope, running_api

MIB = 1024 * 1024
JSON = {"content-type": "application/json"}
SYNC_ROUTES = ["/api/sync/inbound", "/api/sync/cases", "/api/sync/reconcile", "/api/sync/full"]
ALIASES = ["/api/sync/outbound/cases", "/api/sync/outbound/enrich", "/api/sync/outbound/full"]
SCHEDULES = "/api/scheduler/schedules"
HOLDS = "/api/availability/holds"
BOOKING = "/api/booking/config"
METHODS = {SCHEDULES: "PATCH", BOOKING: "PUT"}
A_START = "2030-06-11T09:00:00Z"
# An answer to hostile input stays small, whatever came in.
MAX_ANSWER_BYTES = 2048

THIS_YEAR = datetime.now(UTC).year
FIRST_DAY = date(THIS_YEAR - MAX_YEARS_AWAY, 1, 1)
LAST_DAY = date(THIS_YEAR + MAX_YEARS_AWAY, 12, 31)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileApi]:
    """The running service on each database in turn."""
    with running_api(request.param, request, tmp_path_factory.mktemp("hostile")) as running:
        yield running


@pytest.fixture
def http(api: HostileApi) -> Iterator[httpx.Client]:
    """A client sending the clinic's key."""
    headers = {"X-API-Key": api.who.clinic_key}
    with httpx.Client(base_url=api.base_url, headers=headers, timeout=60) as client:
        yield client


@pytest.fixture
def untouched(api: HostileApi) -> Iterator[None]:
    """The test's requests change nothing in the database and never reach the PIMS."""
    before, logins = api.snapshot(), api.provider.logins
    yield
    assert api.snapshot() == before
    assert api.provider.logins == logins


def refused(response: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """The answer is this 4xx, in the envelope, short; returns its body."""
    context = (response.request.method, str(response.request.url)[:120], response.text[:300])
    assert response.status_code == status, context
    assert response.headers["content-type"].startswith("application/json"), context
    assert len(response.content) <= MAX_ANSWER_BYTES, context
    body = check_envelope(status, response.json())
    if code is not None:
        assert body["code"] == code, context
    return body


def fields_of(body: dict[str, Any]) -> list[str]:
    """The fields a 400 validation_error names."""
    return [problem["field"] for problem in body["validationErrors"]]


def post_raw(http: httpx.Client, path: str, content: bytes | str, **headers: str) -> httpx.Response:
    """POST (or PATCH for the schedules) these exact bytes as JSON."""
    method = METHODS.get(path, "POST")
    data = content.encode("utf-8", "surrogatepass") if isinstance(content, str) else content
    return http.request(method, path, content=data, headers={**JSON, **headers})


# --- Size ----------------------------------------------------------------------------


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", [*SYNC_ROUTES, *ALIASES, SCHEDULES, HOLDS, BOOKING])
def test_bodies_over_1_mib_are_413(http: httpx.Client, path: str) -> None:
    big = b'{"startDate": "' + b"x" * MIB + b'"}'
    body = refused(post_raw(http, path, big), 413, "payload_too_large")
    assert body["error"] == "Request body is larger than 1024 KiB"

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"cron": "'
        for _ in range(32):
            yield b"y" * 65536
        yield b'"}'

    async def streamed() -> httpx.Response:
        headers = {**JSON, "X-API-Key": http.headers["X-API-Key"]}
        async with httpx.AsyncClient(base_url=str(http.base_url), timeout=60) as client:
            method = METHODS.get(path, "POST")
            return await client.request(method, path, content=chunks(), headers=headers)

    response = asyncio.run(streamed())
    assert "content-length" not in response.request.headers
    refused(response, 413, "payload_too_large")


PATHOLOGICAL: list[tuple[str, bytes, str]] = [
    ("a 5000-digit number", b'{"daysAhead": ' + b"9" * 5000 + b"}", "invalid_json"),
    ("nested arrays, 200 000 deep", b"[" * 200_000 + b"]" * 200_000, "invalid_json"),
    ("nested objects, 50 000 deep", b'{"a":' * 50_000 + b"1" + b"}" * 50_000, "invalid_json"),
    ("truncated", b'{"daysAhead": 3', "invalid_json"),
    ("not UTF-8", b'{"startDate": "\xff\xfe"}', "invalid_json"),
    ("trailing garbage", b'{"daysAhead": 3} {"daysAhead": 4}', "invalid_json"),
    ("NaN", b'{"daysAhead": NaN}', "validation_error"),
    (
        "1e400",
        b'{"daysAhead": 1e400, "lookbackDays": 1e400, "parallelBatchSize": 1e400}',
        "validation_error",
    ),
    ("null", b"null", "validation_error"),
    ("a string", b'"inbound"', "validation_error"),
    ("a list", b"[1, 2, 3]", "validation_error"),
    ("a number", b"42", "validation_error"),
]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", [*SYNC_ROUTES, SCHEDULES])
def test_pathological_json_is_400(http: httpx.Client, path: str) -> None:
    for label, content, code in PATHOLOGICAL:
        if path != "/api/sync/inbound" and label in ("NaN", "1e400"):
            continue  # only some routes have these number fields
        body = refused(post_raw(http, path, content), 400)
        assert body["code"] == code, (label, body)
        if code == "invalid_json":
            assert body["error"] == "Malformed JSON in request body", label


def test_moderately_nested_json_names_the_field(http: httpx.Client, api: HostileApi) -> None:
    before = api.snapshot()
    nested: Any = "2026-01-01"
    for _ in range(300):
        nested = {"start": nested}
    response = http.post("/api/sync/inbound", json={"dateRange": nested})
    assert fields_of(refused(response, 400, "validation_error")) == ["body.dateRange.start"]
    assert api.snapshot() == before


# --- Types ---------------------------------------------------------------------------

WRONG_TYPES: dict[str, list[tuple[dict[str, Any], str]]] = {
    "/api/sync/inbound": [
        ({"daysAhead": "7"}, "daysAhead"),
        ({"daysAhead": True}, "daysAhead"),
        ({"daysAhead": 7.5}, "daysAhead"),
        ({"daysAhead": [7]}, "daysAhead"),
        ({"daysAhead": None}, "daysAhead"),
        ({"startDate": 20260101}, "startDate"),
        ({"startDate": True}, "startDate"),
        ({"endDate": {"day": 1}}, "endDate"),
        ({"dateRange": "2026-01-01..2026-01-02"}, "dateRange"),
        ({"clinicId": 12345}, "clinicId"),
        ({"async": "true"}, "async"),
        ({"async": 1}, "async"),
    ],
    "/api/sync/cases": [
        ({"parallelBatchSize": "5"}, "parallelBatchSize"),
        ({"parallelBatchSize": False}, "parallelBatchSize"),
        ({"startDate": ["2026-01-01"]}, "startDate"),
        ({"endDate": 1.5}, "endDate"),
    ],
    "/api/sync/reconcile": [
        ({"lookbackDays": "7"}, "lookbackDays"),
        ({"lookbackDays": 7.0}, "lookbackDays"),
        ({"dryRun": "false"}, "dryRun"),
        ({"dryRun": 0}, "dryRun"),
        ({"force": "yes"}, "force"),
    ],
    "/api/sync/full": [
        ({"forwardDays": "3"}, "forwardDays"),
        ({"backwardDays": 2.5}, "backwardDays"),
        ({"bidirectional": "yes"}, "bidirectional"),
        ({"lookbackDays": {}}, "lookbackDays"),
        ({"force": None}, "force"),
    ],
    HOLDS: [
        ({"start": 20300611}, "start"),
        ({"start": "2030-06-11T09:00:00"}, "start"),
        ({"start": "2030-06-11"}, "start"),
        ({"start": A_START, "duration": "30"}, "duration"),
        ({"start": A_START, "duration": 30.5}, "duration"),
        ({"start": A_START, "duration": 9999}, "duration"),
        ({"start": A_START, "ttlSeconds": True}, "ttlSeconds"),
        ({"start": A_START, "resourceId": 7}, "resourceId"),
        ({"start": A_START, "resourceId": "x" * 65}, "resourceId"),
        ({"start": A_START, "reference": ["call"]}, "reference"),
        ({"start": A_START, "reference": "r" * 201}, "reference"),
        ({"start": A_START, "clinicId": 12}, "clinicId"),
    ],
    BOOKING: [
        ({"slotMinutes": "15"}, "slotMinutes"),
        ({"slotMinutes": 15.5}, "slotMinutes"),
        ({"rostersDefineWorking": "true"}, "rostersDefineWorking"),
        ({"openingHours": {"monday": "08:00-12:00"}}, "openingHours.monday"),
        ({"bookableResourceIds": [7]}, "bookableResourceIds.0"),
        ({"visitMinutes": {"Exam": "30"}}, "visitMinutes.Exam"),
        ({"openHours": {}}, "openHours"),
    ],
    SCHEDULES: [
        ({"type": 1, "cron": "0 6 * * *"}, "type"),
        ({"type": "inbound", "cron": 6}, "cron"),
        ({"type": "inbound", "cron": "0 6 * * *", "enabled": "true"}, "enabled"),
        ({"type": "inbound", "cron": "0 6 * * *", "options": []}, "options"),
        ({"type": "inbound", "cron": "0 6 * * *", "clinicId": 7}, "clinicId"),
    ],
}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", list(WRONG_TYPES))
def test_wrong_types_are_400_naming_the_field(http: httpx.Client, path: str) -> None:
    for body, field in WRONG_TYPES[path]:
        problem = refused(post_raw(http, path, json.dumps(body)), 400, "validation_error")
        assert fields_of(problem) == [f"body.{field}"], (body, problem)


# --- Dates ---------------------------------------------------------------------------

FAR_PAST = str(FIRST_DAY - timedelta(days=1))
FAR_FUTURE = str(LAST_DAY + timedelta(days=1))
BAD_DATES: list[tuple[str, str]] = [
    ("0000-01-01", "is not a real date"),
    ("10000-01-01", "must be a date as YYYY-MM-DD"),
    ("2026-02-30", "is not a real date"),
    ("2026-13-01", "is not a real date"),
    ("2026-1-1", "must be a date as YYYY-MM-DD"),
    ("2026-01-01T00:00:00Z", "must be a date as YYYY-MM-DD"),
    ("0001-01-01", f"must be a day from {FIRST_DAY} to {LAST_DAY}"),
    ("9999-12-31", f"must be a day from {FIRST_DAY} to {LAST_DAY}"),
    (FAR_PAST, f"must be a day from {FIRST_DAY} to {LAST_DAY}"),
    (FAR_FUTURE, f"must be a day from {FIRST_DAY} to {LAST_DAY}"),
]
DATE_FIELDS = {
    "/api/sync/inbound": ["startDate", "endDate", "dateRange.start", "dateRange.end"],
    "/api/sync/cases": ["startDate", "endDate"],
    "/api/sync/full": ["startDate"],
}


def _body_with(field: str, value: object) -> dict[str, Any]:
    if field.startswith("dateRange."):
        return {"dateRange": {field.split(".")[1]: value}}
    return {field: value}


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", list(DATE_FIELDS))
def test_dates_out_of_range_are_400(http: httpx.Client, path: str) -> None:
    for field in DATE_FIELDS[path]:
        for value, message in BAD_DATES:
            problem = refused(http.post(path, json=_body_with(field, value)), 400)
            assert problem["validationErrors"] == [
                {"field": f"body.{field}", "message": message}
            ], (field, value)
    if path != "/api/sync/full":
        start = date(THIS_YEAR, 1, 1)
        too_long = {"startDate": str(start), "endDate": str(start + timedelta(MAX_WINDOW_DAYS))}
        problem = refused(http.post(path, json=too_long), 400, "validation_error")
        assert fields_of(problem) == ["body.endDate"]
        backwards = {"startDate": str(start), "endDate": str(start - timedelta(days=1))}
        refused(http.post(path, json=backwards), 400, "validation_error")


def test_the_edges_of_the_date_range_are_accepted(http: httpx.Client) -> None:
    """Control: the rules refuse only what they should (these runs really happen)."""
    last = http.post("/api/sync/inbound", json={"startDate": str(LAST_DAY), "daysAhead": 1})
    assert last.status_code == 200, last.text
    first = http.post(
        "/api/sync/cases", json={"startDate": str(FIRST_DAY), "endDate": str(FIRST_DAY)}
    )
    assert first.status_code == 200, first.text
    assert last.json()["stats"]["appointmentsFound"] == 0


# --- Ids -----------------------------------------------------------------------------

BAD_RUN_PATHS = [
    "/api/sync/not-a-uuid",
    "/api/sync/123",
    "/api/sync/00000000-0000-0000-0000-00000000000g",
    "/api/sync/00000000-0000-0000-0000-0000000000000",
    "/api/sync/%00",
    "/api/sync/%27%20OR%201=1%20--",
    "/api/sync/%3Cscript%3E/events",
    "/api/sync/%E2%80%AE%F0%9F%90%B6",
    "/api/sync/" + "a" * 5000,
]


@pytest.mark.usefixtures("untouched")
def test_invalid_run_ids_are_unknown_paths(http: httpx.Client) -> None:
    for path in BAD_RUN_PATHS:
        body = refused(http.get(path), 404, "not_found")
        assert len(body["error"]) <= 150, body["error"]
    unknown = "00000000-0000-4000-8000-000000000000"
    for path in (f"/api/sync/{unknown}", f"/api/sync/{unknown}/events"):
        assert refused(http.get(path), 404, "sync_not_found")["error"].endswith(unknown)


BAD_CLINIC_IDS: list[object] = [
    "not-a-uuid",
    "'; DROP TABLE cases; --",
    "",
    "00000000-0000-0000-0000-00000000000",
    "{{7*7}}",
    12345,
    ["00000000-0000-4000-8000-000000000000"],
]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", [*SYNC_ROUTES, SCHEDULES])
def test_invalid_clinic_ids_are_400_and_other_clinics_403(
    http: httpx.Client, api: HostileApi, path: str
) -> None:
    extra = {"type": "inbound", "cron": "0 6 * * *"} if path == SCHEDULES else {}
    for clinic_id in BAD_CLINIC_IDS:
        body = {**extra, "clinicId": clinic_id}
        problem = refused(post_raw(http, path, json.dumps(body)), 400, "validation_error")
        assert fields_of(problem) == ["body.clinicId"], clinic_id
    other = {**extra, "clinicId": str(api.who.other_clinic_id)}
    refused(post_raw(http, path, json.dumps(other)), 403, "clinic_forbidden")
    service = {"X-API-Key": api.who.service_key}
    missing = {**extra, "clinicId": "00000000-0000-4000-8000-000000000000"}
    refused(post_raw(http, path, json.dumps(missing), **service), 404, "clinic_not_found")
    refused(post_raw(http, path, json.dumps(extra), **service), 400, "clinic_id_required")


# --- Injection and unicode -------------------------------------------------------------

NASTY_STRINGS = [
    "'; DROP TABLE case_sync_audits; --",
    "1 OR 1=1",
    '" OR ""="',
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(1)>",
    "javascript:alert(1)",
    "${jndi:ldap://x}",
    "{{7*7}}",
    "\u202e1202-10-10",  # right-to-left override
    "2026-01-01\u0000",
    "\u0000",
    "🐶🐱" * 10,
    "\ufeff2026-01-01",
    "ｓｃｈｅｄｕｌｅ",
]
# Lone surrogates are not valid UTF-8: sent as JSON escapes.
SURROGATES = ['"\\ud800"', '"2026-01-01\\udfff"', '"\\udbff\\udc00\\ud800"']


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize("path", [*SYNC_ROUTES, SCHEDULES])
def test_sql_script_and_unicode_in_strings_are_400(http: httpx.Client, path: str) -> None:
    fields = {
        "/api/sync/inbound": ["startDate", "clinicId"],
        "/api/sync/cases": ["endDate", "clinicId"],
        "/api/sync/reconcile": ["lookbackDays", "clinicId"],
        "/api/sync/full": ["startDate", "clinicId"],
        SCHEDULES: ["type", "cron", "clinicId"],
    }[path]
    base = {"type": "inbound", "cron": "0 6 * * *"} if path == SCHEDULES else {}
    for field in fields:
        for text in NASTY_STRINGS:
            body = json.dumps({**base, field: text})
            problem = refused(post_raw(http, path, body), 400)
            assert problem["code"] in ("validation_error", "invalid_input"), problem
        for escaped in SURROGATES:
            raw = json.dumps(base)[:-1].lstrip("{")
            body = "{" + (raw + ", " if raw else "") + f'"{field}": {escaped}' + "}"
            problem = refused(post_raw(http, path, body), 400)
            assert problem["code"] in ("validation_error", "invalid_input"), problem
    if path == SCHEDULES:
        for key in ("<script>", "\u0000", "🐶" * 50, "'; DROP TABLE clinics; --"):
            options = {"type": "inbound", "cron": "0 6 * * *", "options": {key: 1}}
            problem = refused(http.patch(path, json=options), 400, "invalid_input")
            assert problem["error"].startswith("unknown option")


# --- Query strings -----------------------------------------------------------------

BAD_QUERIES: list[tuple[str, dict[str, str], str]] = [
    ("/api/sync/history", {"limit": "-1"}, "query.limit"),
    ("/api/sync/history", {"limit": "0"}, "query.limit"),
    ("/api/sync/history", {"limit": "101"}, "query.limit"),
    ("/api/sync/history", {"limit": str(10**9)}, "query.limit"),
    ("/api/sync/history", {"limit": "9" * 5000}, "query.limit"),
    ("/api/sync/history", {"limit": "1.5"}, "query.limit"),
    ("/api/sync/history", {"limit": "ten"}, "query.limit"),
    ("/api/sync/history", {"limit": ""}, "query.limit"),
    ("/api/sync/history", {"type": "unknown"}, "query.type"),
    ("/api/sync/history", {"type": "inbound' OR '1'='1"}, "query.type"),
    ("/api/sync/history", {"type": "x" * 10000}, "query.type"),
    ("/api/sync/history", {"status": "<script>alert(1)</script>"}, "query.status"),
    ("/api/sync/history", {"status": "\u0000"}, "query.status"),
    ("/api/sync/history", {"clinicId": "1 OR 1=1"}, "query.clinicId"),
    ("/api/clinic", {"clinicId": "🐶"}, "query.clinicId"),
    ("/api/scheduler/status", {"clinicId": "\u202e"}, "query.clinicId"),
    ("/api/sync/00000000-0000-4000-8000-000000000000", {"clinicId": "x"}, "query.clinicId"),
    (
        "/api/sync/00000000-0000-4000-8000-000000000000/events",
        {"clinicId": "00000000-0000-4000-8000-00000000000Z"},
        "query.clinicId",
    ),
    ("/api/availability", {"days": "0"}, "query.days"),
    ("/api/availability", {"days": "15"}, "query.days"),
    ("/api/availability", {"days": "9" * 5000}, "query.days"),
    ("/api/availability", {"duration": "14"}, "query.duration"),
    ("/api/availability", {"duration": "241"}, "query.duration"),
    ("/api/availability", {"duration": "1e3"}, "query.duration"),
    ("/api/availability", {"date": "2026-02-30"}, "query.date"),
    ("/api/availability", {"date": "'; DROP TABLE pims_appointments; --"}, "query.date"),
    ("/api/availability", {"resourceId": "x" * 65}, "query.resourceId"),
    ("/api/availability", {"resourceId": ""}, "query.resourceId"),
    ("/api/availability", {"appointmentType": "t" * 101}, "query.appointmentType"),
    ("/api/availability/next", {"count": "0"}, "query.count"),
    ("/api/availability/next", {"count": "21"}, "query.count"),
    ("/api/availability/next", {"after": "tomorrow"}, "query.after"),
    ("/api/availability/next", {"after": "<script>"}, "query.after"),
    ("/api/availability/next", {"clinicId": "🐶"}, "query.clinicId"),
    ("/api/booking/config", {"clinicId": "1 OR 1=1"}, "query.clinicId"),
]


@pytest.mark.usefixtures("untouched")
def test_bad_query_parameters_are_400_naming_them(http: httpx.Client) -> None:
    for path, params, field in BAD_QUERIES:
        problem = refused(http.get(path, params=params), 400, "validation_error")
        assert fields_of(problem) == [field], (path, params)


# --- API keys ------------------------------------------------------------------------

HOSTILE_KEYS: list[tuple[bytes, str]] = [
    (b"", "missing_api_key"),
    (b"k" * 10_000, "invalid_api_key"),
    (b"k" * 60_000, "invalid_api_key"),
    ("clé-secrète".encode("latin-1"), "invalid_api_key"),
    ("🔑🔑🔑🔑🔑".encode(), "invalid_api_key"),
    (b"' OR 1=1 --", "invalid_api_key"),
    (b"\xff" * 64, "invalid_api_key"),
]


@pytest.mark.usefixtures("untouched")
@pytest.mark.parametrize(
    ("method", "path"),
    [
        *[("POST", route) for route in SYNC_ROUTES],
        ("PATCH", SCHEDULES),
        ("GET", "/api/sync/history?limit=5"),
        ("GET", "/api/events?limit=5"),
        ("GET", "/api/clinic"),
        ("POST", "/api/clinic/credentials/test"),
        ("GET", "/api/scheduler/status"),
        ("GET", "/api/sync/00000000-0000-4000-8000-000000000000"),
        ("GET", "/api/availability"),
        ("GET", "/api/availability/next?count=3"),
        ("GET", "/api/booking/config"),
        ("PUT", "/api/booking/config"),
        ("POST", "/api/availability/holds"),
        ("DELETE", "/api/availability/holds/00000000-0000-4000-8000-000000000000"),
        *[
            ("POST", f"/api/appointments/{name}")
            for name in ("search-patient", "create", "cancel", "reschedule")
        ],
    ],
)
def test_hostile_api_keys_are_401(api: HostileApi, method: str, path: str) -> None:
    body = b'{"type": "inbound", "cron": "0 6 * * *", "daysAhead": 1}'
    with httpx.Client(base_url=api.base_url, timeout=60) as client:
        for key, code in HOSTILE_KEYS:
            headers = [(b"X-API-Key", key), (b"content-type", b"application/json")]
            response = client.request(method, path, headers=headers, content=body)
            problem = refused(response, 401, code)
            assert problem["error"] in ("Missing X-API-Key header", "Invalid API key")


# --- Echo ------------------------------------------------------------------------------


@pytest.mark.usefixtures("untouched")
def test_messages_never_echo_huge_input(http: httpx.Client) -> None:
    huge = "Z" * 200_000
    answers = [
        http.patch(SCHEDULES, json={"type": "inbound", "cron": huge}),
        http.patch(SCHEDULES, json={"type": "inbound", "cron": "0 6 * * *", "options": {huge: 1}}),
        http.patch(SCHEDULES, json={"type": huge, "cron": "0 6 * * *"}),
        http.post("/api/sync/inbound", json={"startDate": huge}),
        http.post("/api/sync/full", json={"clinicId": huge}),
        http.get("/" + "Z" * 7000),
        http.get("/api/sync/history", params={"type": huge[:10_000]}),
        http.request("DELETE", "/api/sync/" + "Z" * 7000),
    ]
    for response in answers:
        assert 400 <= response.status_code < 500, response.text[:300]
        refused(response, response.status_code)
        assert "Z" * (MAX_MESSAGE_CHARS + 1) not in response.text
