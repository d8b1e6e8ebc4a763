"""The one place where errors become HTTP: status codes, machine codes, the JSON envelope.

Every error answer is an `ErrorBody` (`shapes/errors.py`): `{"success": false, "error":
"<message>", "code": "<machine_code>", "timestamp": "<ISO>"}` (+ `validationErrors` on 400s,
`syncId` when a run is concerned, `alternatives` on a 409 `slot_unavailable`).
Errors are mapped by class through `STATUS_BY_ERROR` (and `HEADERS_BY_ERROR`): add a
row there when a new error family needs its own status. Every error class lives in
`errors.py`; the refusals decided here at the edge (API key, permission, clinic scope,
metrics token, stream slots) are classes there too.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, cast

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from pims_sync import errors
from pims_sync.domain.availability import FreeSlot
from pims_sync.shapes.availability import SlotOut
from pims_sync.shapes.errors import ErrorBody, FieldProblem

logger = logging.getLogger(__name__)

INTERNAL_MESSAGE = "Internal server error"
MALFORMED_JSON = "Malformed JSON in request body"
# A message never carries huge input back (a 60 KB path, a 1 MiB cron): longer is cut.
MAX_MESSAGE_CHARS = 300
MAX_PATH_CHARS = 100
# FastAPI's answer to a body it cannot decode at all (e.g. not UTF-8): the same 400 to us.
UNDECODABLE_BODY = "There was an error parsing the body"

# Most specific class first: the first row the error is an instance of decides.
STATUS_BY_ERROR: tuple[tuple[type[errors.PimsSyncError], int], ...] = (
    (errors.RunInProgressError, 409),  # sync_in_progress, with the running run's syncId
    (errors.SlotUnavailableError, 409),  # slot_unavailable, with the next free slots
    (errors.ReconciliationGuardError, 409),  # would delete too much; repeat with force
    (errors.ClinicPausedError, 409),  # paused (password refused, failures): resume it first
    (errors.WriteInProgressError, 409),  # the same Idempotency-Key is being worked on
    (errors.IdempotencyKeyReusedError, 422),  # the key came first with another body
    (errors.PimsWriteRefusedError, 422),  # IDEXX refused the write's content; nothing changed
    (errors.SyncTimeoutError, 504),  # SYNC_TIMEOUT_MS passed; the run was stopped
    (errors.PimsBudgetExhaustedError, 429),  # the clinic's PIMS requests of the UTC day
    (errors.PimsLoginBudgetExhaustedError, 429),  # the clinic's fresh PIMS logins of the day
    (errors.TooManyStreamsError, 429),  # SSE_MAX_STREAMS_PER_KEY event streams already open
    (errors.AuthenticationError, 401),  # no API key (or metrics token), or a refused one
    (errors.PermissionDeniedError, 403),  # a permission the key lacks, another clinic
    (errors.ServiceStoppingError, 503),  # shutting down: another replica (or a retry) takes it
    (errors.StorageUnavailableError, 503),  # the database cannot work: disk full, unreachable
    (errors.PimsBrowserUnavailableError, 503),  # Chromium would not start, or died mid-login
    (errors.NotFoundError, 404),
    (errors.ClinicInactiveError, 403),  # deactivated between the key check and the start
    (errors.InvalidInputError, 400),
    (errors.PimsAuthError, 502),  # pims_auth_failed: the clinic's PIMS login was refused
    (errors.PimsError, 502),  # pims_unavailable and the rest of the PIMS family
)

# Headers an answer carries with its status: how to authenticate, when to try again.
HEADERS_BY_ERROR: tuple[tuple[type[errors.PimsSyncError], Mapping[str, str]], ...] = (
    (errors.MetricsTokenError, {"WWW-Authenticate": "Bearer"}),
    (errors.TooManyStreamsError, {"Retry-After": "5"}),
)

CODE_BY_STATUS = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
    500: "internal_error",
    503: "service_unavailable",
}


def clipped(text: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    """The text, cut to `limit` characters (ending with `…` when cut)."""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def envelope(
    message: str,
    code: str,
    *,
    sync_id: str | None = None,
    validation_errors: list[FieldProblem] | None = None,
    alternatives: list[SlotOut] | None = None,
) -> ErrorBody:
    """The error body every route shares (the message at most MAX_MESSAGE_CHARS long)."""
    return ErrorBody(
        error=clipped(message),
        code=code,
        timestamp=datetime.now(UTC),
        sync_id=sync_id,
        validation_errors=validation_errors,
        alternatives=alternatives,
    )


def error_response(
    status: int,
    code: str,
    message: str,
    *,
    headers: Mapping[str, str] | None = None,
    sync_id: str | None = None,
    validation_errors: list[FieldProblem] | None = None,
    alternatives: list[SlotOut] | None = None,
) -> JSONResponse:
    """The envelope as a response."""
    body = envelope(
        message,
        code,
        sync_id=sync_id,
        validation_errors=validation_errors,
        alternatives=alternatives,
    )
    return JSONResponse(body.wire(), status_code=status, headers=headers)


def status_for(error: errors.PimsSyncError) -> int:
    """The HTTP status of a domain error (500 when no row of the table matches)."""
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def headers_for(error: errors.PimsSyncError) -> dict[str, str]:
    """The headers of a domain error's answer (none for most)."""
    for kind, headers in HEADERS_BY_ERROR:
        if isinstance(error, kind):
            return dict(headers)
    return {}


def _field(location: Sequence[Any]) -> str:
    return ".".join(str(part) for part in location)


def validation_errors(raw: Sequence[Any]) -> list[FieldProblem]:
    """FastAPI's validation errors as `[{field, message}]`, e.g. `body.daysAhead`."""
    return [
        FieldProblem(
            field=clipped(_field(item.get("loc", ()))), message=clipped(item.get("msg", ""))
        )
        for item in raw
    ]


def run_concerned(error: errors.PimsSyncError) -> str | None:
    """The run an error is about (`syncId` of the envelope), when known."""
    sync_id = error.context.get("sync_id")
    if isinstance(error, errors.RunInProgressError) and error.run_id is not None:
        sync_id = error.run_id  # the run that is going, which the caller may follow
    return None if sync_id is None else str(sync_id)


def alternatives_of(error: errors.PimsSyncError) -> list[SlotOut] | None:
    """The free slots a `slot_unavailable` answer offers instead (None for other errors)."""
    if not isinstance(error, errors.SlotUnavailableError):
        return None
    return [SlotOut.of(slot) for slot in error.alternatives if isinstance(slot, FreeSlot)]


async def _domain_error(_request: Request, exc: Exception) -> JSONResponse:
    error = cast(errors.PimsSyncError, exc)
    status = status_for(error)
    if status >= 500:
        logger.error("request failed: %s (%s)", error.code, type(error).__name__)
    return error_response(
        status,
        error.code,
        error.message,
        headers=headers_for(error),
        sync_id=run_concerned(error),
        alternatives=alternatives_of(error),
    )


async def _validation_error(_request: Request, exc: Exception) -> JSONResponse:
    raw = list(cast(RequestValidationError, exc).errors())
    if any(item.get("type") == "json_invalid" for item in raw):
        return error_response(400, "invalid_json", MALFORMED_JSON)
    problems = validation_errors(raw)
    return error_response(400, "validation_error", "Validation failed", validation_errors=problems)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    error = cast(StarletteHTTPException, exc)
    code = CODE_BY_STATUS.get(error.status_code, "http_error")
    if error.status_code == 400 and error.detail == UNDECODABLE_BODY:
        return error_response(400, "invalid_json", MALFORMED_JSON)
    where = f"{clipped(request.method, 20)} {clipped(request.url.path, MAX_PATH_CHARS)}"
    if error.status_code == 404 and error.detail == "Not Found":
        message = f"Not found: {where}"
    elif error.status_code == 405:
        message = f"Method not allowed: {where}"
        # Starlette names the methods of the first route of the path only; a path served
        # by several routes (GET and POST /api/webhooks) allows all of theirs.
        return error_response(405, code, message, headers={"Allow": _allowed(request)})
    else:
        message = str(error.detail)
    return error_response(error.status_code, code, message, headers=error.headers)


def _allowed(request: Request) -> str:
    """Every method some route of the request's path takes (routers' routes included)."""
    methods: set[str] = set()
    for route in iter_route_contexts(request.app.routes):
        if route.methods and route.path and compile_path(route.path)[0].match(request.url.path):
            methods |= route.methods
    return ", ".join(sorted(methods))


def internal_error_response() -> JSONResponse:
    """The 500 answer for anything unexpected: a generic message, never the exception's."""
    return error_response(500, "internal_error", INTERNAL_MESSAGE)


def install_error_handlers(app: FastAPI) -> None:
    """Register the handlers that turn every known error into the envelope."""
    app.add_exception_handler(errors.PimsSyncError, _domain_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
