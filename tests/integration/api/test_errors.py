"""The error envelope (README.md#http-api): 400/404/405/413/500 and domain errors, all JSON."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import httpx
import pytest
from pydantic import Field

from pims_sync.api.app import create_app
from pims_sync.api.schemas import CamelModel
from pims_sync.errors import (
    InvalidInputError,
    MissingMetricsTokenError,
    NotFoundError,
    PimsAuthError,
    PimsSyncError,
    RunInProgressError,
)
from tests.integration.api.conftest import api_settings, client_for

MIB = 1024 * 1024


class WindowBody(CamelModel):
    """A body shaped like the sync routes' ones."""

    days_ahead: int = Field(7, ge=1, le=90)
    start_date: str | None = Field(None, pattern=r"^\d{4}-\d{2}-\d{2}$")


@pytest.fixture
async def client(tmp_path: Any) -> AsyncIterator[httpx.AsyncClient]:
    """The real app (no database needed here) plus routes that fail on purpose."""
    app = create_app(api_settings(f"sqlite:///{tmp_path / 'unused.db'}"))

    @app.post("/test/window")
    async def window(body: WindowBody) -> dict[str, Any]:
        return {"daysAhead": body.days_ahead}

    @app.post("/test/size")
    async def size(body: dict[str, Any]) -> dict[str, Any]:
        return {"length": len(body.get("data", ""))}

    failures: dict[str, Exception] = {
        "not-found": NotFoundError("no run with id 42"),
        "invalid": InvalidInputError("endDate is before startDate"),
        "pims-auth": PimsAuthError("Invalid username or password"),
        "other-domain": PimsSyncError("something of ours"),
        "busy": RunInProgressError("A sync is already running", run_id="s-1"),
        "edge": MissingMetricsTokenError("Missing the metrics token"),
        "crash": RuntimeError("password=hunter2 leaked in a message"),
    }

    @app.get("/test/fail/{kind}")
    async def fail(kind: str) -> None:
        raise failures[kind]

    async with client_for(app) as http:
        yield http


def envelope_of(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body: dict[str, Any] = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert isinstance(body["error"], str)
    assert body["error"]
    assert datetime.fromisoformat(body["timestamp"]).tzinfo is not None
    return body


async def test_unknown_path_is_404_json(client: httpx.AsyncClient) -> None:
    body = envelope_of(await client.get("/no/such/path"), 404, "not_found")
    assert body["error"] == "Not found: GET /no/such/path"
    envelope_of(await client.post("/api/sync/nothing-here", json={}), 404, "not_found")


async def test_wrong_method_is_405_json(client: httpx.AsyncClient) -> None:
    response = await client.delete("/health")
    body = envelope_of(response, 405, "method_not_allowed")
    assert body["error"] == "Method not allowed: DELETE /health"
    assert response.headers["allow"] == "GET"


async def test_malformed_json_is_400(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/test/window", content=b'{"daysAhead": 3,', headers={"content-type": "application/json"}
    )
    body = envelope_of(response, 400, "invalid_json")
    assert body["error"] == "Malformed JSON in request body"


async def test_validation_errors_are_400_with_fields(client: httpx.AsyncClient) -> None:
    response = await client.post("/test/window", json={"daysAhead": 0, "startDate": "tomorrow"})
    body = envelope_of(response, 400, "validation_error")
    assert body["error"] == "Validation failed"
    fields = {item["field"] for item in body["validationErrors"]}
    assert fields == {"body.daysAhead", "body.startDate"}
    assert all(item["message"] for item in body["validationErrors"])
    ok = await client.post("/test/window", json={"daysAhead": 3})
    assert ok.json() == {"daysAhead": 3}


async def test_body_over_1_mib_is_413(client: httpx.AsyncClient) -> None:
    big = b'{"data": "' + b"x" * MIB + b'"}'
    body = envelope_of(
        await client.post("/test/size", content=big, headers={"content-type": "application/json"}),
        413,
        "payload_too_large",
    )
    assert body["error"] == "Request body is larger than 1024 KiB"
    fits = b'{"data": "' + b"x" * (MIB - 100) + b'"}'
    response = await client.post(
        "/test/size", content=fits, headers={"content-type": "application/json"}
    )
    assert response.json() == {"length": MIB - 100}


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    yield b'{"data": "'
    for start in range(0, total, size):
        yield b"x" * min(size, total - start)
    yield b'"}'


async def _stream(total: int) -> AsyncIterator[bytes]:
    for chunk in _chunks(total):
        yield chunk


async def test_chunked_body_over_1_mib_is_413(client: httpx.AsyncClient) -> None:
    headers = {"content-type": "application/json"}
    response = await client.post("/test/size", content=_stream(2 * MIB), headers=headers)
    assert "content-length" not in response.request.headers
    envelope_of(response, 413, "payload_too_large")
    small = await client.post("/test/size", content=_stream(1000), headers=headers)
    assert small.json() == {"length": 1000}


@pytest.mark.parametrize(
    ("kind", "status", "code", "message"),
    [
        ("not-found", 404, "not_found", "no run with id 42"),
        ("invalid", 400, "invalid_input", "endDate is before startDate"),
        ("pims-auth", 502, "pims_auth_failed", "PIMS login failed: Invalid username or password"),
        ("other-domain", 500, "internal_error", "something of ours"),
        ("busy", 409, "sync_in_progress", "A sync is already running"),
        ("edge", 401, "missing_metrics_token", "Missing the metrics token"),
    ],
)
async def test_domain_errors_map_by_class(
    client: httpx.AsyncClient, kind: str, status: int, code: str, message: str
) -> None:
    response = await client.get(f"/test/fail/{kind}")
    body = envelope_of(response, status, code)
    assert body["error"] == message
    assert ("syncId" in body) == (kind == "busy")
    if kind == "busy":
        assert body["syncId"] == "s-1"
    # An edge refusal carries its header: how to authenticate.
    assert response.headers.get("www-authenticate") == ("Bearer" if kind == "edge" else None)


async def test_unexpected_error_is_a_generic_500_and_logged(
    client: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="pims_sync.api"):
        response = await client.get("/test/fail/crash")
    body = envelope_of(response, 500, "internal_error")
    assert body["error"] == "Internal server error"
    assert "hunter2" not in response.text
    assert any(record.exc_info for record in caplog.records)


async def test_a_body_that_is_not_utf8_is_malformed_json(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/test/window",
        content=b'{"startDate": "\xff\xfe"}',
        headers={"content-type": "application/json"},
    )
    assert envelope_of(response, 400, "invalid_json")["error"] == "Malformed JSON in request body"


async def test_messages_are_clipped_never_echoing_huge_input(client: httpx.AsyncClient) -> None:
    from pims_sync.api.errors import MAX_MESSAGE_CHARS, clipped

    assert clipped("short") == "short"
    assert clipped("x" * 1000) == "x" * (MAX_MESSAGE_CHARS - 1) + "…"
    body = envelope_of(await client.get("/" + "p" * 5000), 404, "not_found")
    assert body["error"].startswith("Not found: GET /ppp")
    assert body["error"].endswith("…")
    assert len(body["error"]) < 150
    body = envelope_of(await client.delete("/health/" + "q" * 5000), 404, "not_found")
    assert len(body["error"]) < 150
