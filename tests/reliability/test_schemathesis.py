"""Schemathesis against the OpenAPI schema of the running service (docs/api.md, issue 8).

The real app listens under uvicorn on a real database, with a clinic, its API key and
the in-memory PIMS behind it, so generated requests that pass validation start real
syncs. For every operation of the schema, schemathesis runs its examples, coverage and
fuzzing phases (valid and invalid data, headers, query strings, bodies), once as the
clinic's key and once with no key (plus whatever keys it makes up); the reads also as a
service key naming the clinic; and real runs (which the fuzzer cannot name) are started,
read and followed through the schema. It checks:

- no 5xx at all (the fake PIMS never fails, so not even the documented 502/504);
- the status code, content type and body are the ones the schema declares;
- invalid data is refused, a missing key is refused (`ignored_auth`);
- every non-2xx answer is the error envelope, with `validationErrors` on a 400,
  and its message stays short (a message never carries huge input back).

`positive_data_acceptance` is off: a body valid for the schema may still be refused
with a 400 by rules JSON Schema cannot say (a date window over 366 days, `endDate`
before `startDate`, `forwardDays` ≠ `daysAhead`). Those rules have their own tests.

The normal run (time budget): 5 fuzzed examples per operation plus the examples and
coverage phases, on Postgres, the original's deprecated alias paths left out (same
handlers). A longer hunt, on Postgres and SQLite, aliases included:

    PIMS_SYNC_SCHEMATHESIS_EXAMPLES=500 .venv/bin/pytest tests/reliability/test_schemathesis.py
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case
from schemathesis.pytest.lazy import get_all_tests
from schemathesis.specs.openapi.schemas import OpenApiSchema

from pims_sync.api.app import create_app
from pims_sync.settings import load_settings
from tests.reliability.api_stack import ENCRYPTION_KEY, HostileApi, check_envelope, running_api

EXAMPLES_ENV = "PIMS_SYNC_SCHEMATHESIS_EXAMPLES"
EXAMPLES = int(os.environ.get(EXAMPLES_ENV, "5"))
LONG = EXAMPLES_ENV in os.environ


def _operations() -> list[tuple[str, str]]:
    """(method, path) of the operations the app documents (its schema needs no database).

    The original's deprecated paths are the same handlers with the same bodies: only a
    long run sends them its own cases.
    """
    settings = load_settings(database_url="sqlite:///unused.db", encryption_key=ENCRYPTION_KEY)
    paths = create_app(settings).openapi()["paths"]
    return [
        (method.upper(), path)
        for path, operations in paths.items()
        for method, operation in operations.items()
        if LONG or not operation.get("deprecated")
    ]


OPERATIONS = _operations()


# Postgres is the stricter database (types, NUL bytes, JSONB); a long run adds SQLite.
DATABASES = [pytest.param("postgres", marks=pytest.mark.postgres), *(["sqlite"] if LONG else [])]


@pytest.fixture(scope="module", params=DATABASES)
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[HostileApi]:
    """The running service (on each database in turn)."""
    with running_api(request.param, request, tmp_path_factory.mktemp("schemathesis")) as running:
        yield running


def _config(key: str | None, clinic_id: str | None = None) -> schemathesis.Config:
    settings: dict[str, Any] = {
        "generation": {"max-examples": EXAMPLES, "database": "none"},
        "checks": {"positive_data_acceptance": {"enabled": False}},
    }
    if key is not None:
        settings["auth"] = {"openapi": {"APIKeyHeader": {"api_key": key}}}
    if clinic_id is not None:
        settings["parameters"] = {"query.clinicId": clinic_id}
    return schemathesis.Config.from_dict(settings)


def _schema(api: HostileApi, key: str | None, clinic_id: str | None = None) -> OpenApiSchema:
    config = _config(key, clinic_id)
    return schemathesis.openapi.from_url(f"{api.base_url}/openapi.json", config=config)


Answers = Counter[tuple[int, str]]


def _send_and_check(case: Case, answers: Answers) -> None:
    """Send the case, run schemathesis's checks, then ours; count (status, code)."""
    response = case.call_and_validate()
    status = response.status_code
    assert status < 500, (status, response.content[:500])
    if status < 300:
        answers[(status, "ok")] += 1
        return
    assert response.headers["content-type"][0].startswith("application/json"), response.headers
    answers[(status, check_envelope(status, response.json())["code"])] += 1


def _run(schema: OpenApiSchema, method: str, path: str) -> Answers:
    """Every phase of one operation; the (status, code) pairs it answered.

    The schema is loaded from the running server, so it exists only once a fixture has
    started it: `schemathesis.pytest.from_fixture` is the library's way, but it rewrites
    pytest's private node id, which pytest 9.2 no longer has. `get_all_tests` is what it
    calls underneath: one Hypothesis test per operation, with every phase.
    """
    answers: Answers = Counter()
    selected = schema.include(method=method, path=path)

    def test(case: Case) -> None:
        _send_and_check(case, answers)

    tests = list(get_all_tests(schema=selected, test_func=test, settings=None, given_kwargs={}))
    assert len(tests) == 1, tests
    _operation, run = tests[0].ok()
    run()
    return answers


# What a call without a valid key may get: 401, or refusals that come before the key
# is looked at (an unknown path, e.g. a syncId that is no UUID; a body that is not JSON).
BEFORE_THE_KEY = {(401, "missing_api_key"), (401, "invalid_api_key"), (404, "not_found")}
BEFORE_THE_KEY |= {(400, "invalid_json"), (405, "method_not_allowed")}


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation_as_the_clinic_and_anonymously(api: HostileApi, method: str, path: str) -> None:
    as_clinic = _run(_schema(api, api.who.clinic_key), method, path)
    anonymous = _run(_schema(api, None), method, path)
    print(f"{method} {path}: as clinic {dict(as_clinic)}; anonymous {dict(anonymous)}")
    assert as_clinic
    if path.startswith("/api/"):
        # The clinic's key got past the key check; calls without a valid key never did.
        assert {status for status, _ in as_clinic} - {401}, as_clinic
        assert set(anonymous) <= BEFORE_THE_KEY, anonymous


READS = [(m, p) for m, p in OPERATIONS if m == "GET" and p.startswith("/api/")]


@pytest.mark.parametrize(("method", "path"), READS, ids=[f"{m} {p}" for m, p in READS])
def test_reads_as_a_service_key_naming_the_clinic(api: HostileApi, method: str, path: str) -> None:
    clinic_id = str(api.who.clinic_id)
    as_service = _run(_schema(api, api.who.service_key, clinic_id), method, path)
    print(f"{method} {path}: as the service {dict(as_service)}")
    assert {status for status, _ in as_service} - {401}, as_service


def test_answers_about_real_runs_match_the_schema(api: HostileApi) -> None:
    """Runs the fuzzer cannot name: real ones, started, read and followed through the schema."""
    schema = _schema(api, api.who.clinic_key)
    key = {"X-API-Key": api.who.clinic_key}

    def answer(path: str, method: str, status: int, **data: Any) -> Any:
        if "body" in data:
            data["media_type"] = "application/json"
        response = schema[path][method].Case(**data).call_and_validate(headers=key)
        assert response.status_code == status, response.content[:300]
        return response

    # The fuzzing of PATCH /api/clinic may have left the clinic paused: runs need it resumed.
    answer("/api/clinic", "PATCH", 200, body={"paused": False})
    sync_id = answer("/api/sync/full", "POST", 200, body={"daysAhead": 1, "lookbackDays": 1})
    sync_id = sync_id.json()["syncId"]
    preview = {"async": True, "dryRun": True, "lookbackDays": 1}
    queued = answer("/api/sync/reconcile", "POST", 202, body=preview).json()["syncId"]
    for path in ("/api/sync/{syncId}", "/api/sync/{syncId}/events"):
        for run_id in (sync_id, queued):
            answer(path, "GET", 200, path_parameters={"syncId": run_id})  # events: to the end
    detail = answer("/api/sync/{syncId}", "GET", 200, path_parameters={"syncId": sync_id})
    phases = detail.json()["phases"]
    assert [phase["type"] for phase in phases] == ["inbound", "cases", "reconciliation"]
    history = answer("/api/sync/history", "GET", 200, query={"limit": 5}).json()["runs"]
    assert {sync_id, queued} <= {run["syncId"] for run in history}
