"""What the OpenAPI schema says beyond the routes' response models: errors, 202, 207.

The answers' shapes are the models of `shapes/` (each route's `response_model`); here are
the other statuses a route can answer, so that clients and schemathesis see every one
(tests/reliability/test_schemathesis.py checks real answers against them).
"""

from __future__ import annotations

from typing import Any

from pims_sync.shapes.errors import ErrorBody
from pims_sync.shapes.results import FullResult, Queued

ERROR_STATUS_TEXT: dict[int, str] = {
    400: "Bad input: `validation_error` (with `validationErrors`), `invalid_json`, "
    "`invalid_input`, `clinic_id_required`",
    401: "Missing, unknown, disabled or expired API key",
    403: "The key lacks the permission, names another clinic, or its clinic is deactivated "
    "(`clinic_inactive`)",
    404: "Unknown clinic, run or hold, or no PIMS credentials stored",
    409: "`sync_in_progress` (a run of the clinic is going), `reconciliation_guard`, "
    "`clinic_paused` (resume the clinic first), `slot_unavailable` (with `alternatives`), "
    "or `write_in_progress` (a request with the same Idempotency-Key is being worked on)",
    413: "Request body over 1 MiB",
    422: "`idempotency_key_reused`: the Idempotency-Key came first with another body; "
    "`pims_write_refused`: IDEXX refused the write (an unknown patient, type or room)",
    429: "`too_many_streams`: the key has SSE_MAX_STREAMS_PER_KEY event streams open; "
    "`pims_budget_exhausted`, `pims_login_budget_exhausted`: the clinic's day is spent",
    502: "The PIMS refused the login (`pims_auth_failed`) or kept failing; a booking write "
    "that did not reach IDEXX (`pims_write_not_sent`) or could not be confirmed "
    "(`pims_write_unconfirmed`: repeat with the same key)",
    503: "Shutting down, or the database cannot work (`storage_unavailable`); retry",
    504: "`sync_timeout`: the run passed SYNC_TIMEOUT_MS and was stopped",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries of these error statuses, all the envelope."""
    return {
        status: {"model": ErrorBody, "description": ERROR_STATUS_TEXT[status]}
        for status in statuses
    }


AUTHENTICATED_ERRORS = (400, 401, 403, 404)
SYNC_ERRORS = (*AUTHENTICATED_ERRORS, 409, 413, 502, 503, 504)


def sync_responses(*, partial: bool = False) -> dict[int | str, Any]:
    """A sync route's other answers: 202, 207 when a full run had a failed phase, errors."""
    answers: dict[int | str, Any] = {
        200: {"description": "The run ended well"},
        202: {"model": Queued, "description": '`"async": true`: the run was started'},
    }
    if partial:
        answers[207] = {"model": FullResult, "description": "A phase failed"}
    return {**answers, **error_responses(*SYNC_ERRORS)}


def without_422(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop FastAPI's default 422 answers: bad input is a 400 in the envelope here.

    A 422 a route declares itself (`idempotency_key_reused`, the envelope) stays.
    """
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            answers = operation.get("responses", {})
            if answers.get("422", {}).get("description") == "Validation Error":
                answers.pop("422")
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
