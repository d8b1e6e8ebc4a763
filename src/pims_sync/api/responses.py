"""What the routes answer, as the OpenAPI schema declares it (documentation, not filters).

Routes build their JSON themselves (the sync pipeline's result dicts, the run views);
these models only describe it, through `responses=`, so that clients and schemathesis
see every status a route can answer and the shape of each body. Extra fields are
allowed (a phase adds its own, e.g. reconciliation's `deletedCaseIds`). The tests of
the schema (tests/reliability/test_schemathesis.py) check real answers against them.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

ERROR_STATUS_TEXT: dict[int, str] = {
    400: "Bad input: `validation_error` (with `validationErrors`), `invalid_json`, "
    "`invalid_input`, `clinic_id_required`",
    401: "Missing, unknown, disabled or expired API key",
    403: "The key lacks the permission, names another clinic, or its clinic is deactivated "
    "(`clinic_inactive`)",
    404: "Unknown clinic or run",
    409: "`sync_in_progress` (a run of the clinic is going) or `reconciliation_guard`",
    413: "Request body over 1 MiB",
    429: "`too_many_streams`: the key has SSE_MAX_STREAMS_PER_KEY event streams open",
    502: "The PIMS refused the login (`pims_auth_failed`) or kept failing",
    503: "Shutting down, or the database cannot work (`storage_unavailable`); retry",
    504: "`sync_timeout`: the run passed SYNC_TIMEOUT_MS and was stopped",
}


class FieldProblem(BaseModel):
    """One bad field of a 400 `validation_error`."""

    field: str = Field(description="Where, e.g. `body.daysAhead`, `query.limit`.")
    message: str


class ErrorBody(BaseModel):
    """The envelope every error shares."""

    success: Literal[False]
    error: str = Field(description="What went wrong, for people.")
    code: str = Field(description="What went wrong, for programs, e.g. `validation_error`.")
    timestamp: str = Field(description="ISO 8601, UTC.")
    validation_errors: list[FieldProblem] | None = Field(None, alias="validationErrors")
    sync_id: str | None = Field(None, alias="syncId", description="The run concerned.")


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entries of these error statuses, all the envelope."""
    return {
        status: {"model": ErrorBody, "description": ERROR_STATUS_TEXT[status]}
        for status in statuses
    }


AUTHENTICATED_ERRORS = (400, 401, 403, 404)
SYNC_ERRORS = (*AUTHENTICATED_ERRORS, 409, 413, 502, 503, 504)


class PhaseResult(BaseModel):
    """One phase inside a full result."""

    success: bool
    sync_id: str = Field(alias="syncId")
    stats: dict[str, int]
    error: str | None = None
    skipped: bool | None = None
    errors: list[dict[str, Any]] | None = Field(None, description="Per-item failures.")


class SyncResult(PhaseResult):
    """The result of a single-phase run (`stats` as docs/api.md#results lists them)."""

    duration_ms: int = Field(alias="durationMs")
    timestamp: str


class FullResult(BaseModel):
    """The result of a full run; `success` only when every phase succeeded."""

    success: bool
    sync_id: str = Field(alias="syncId")
    inbound_result: PhaseResult = Field(alias="inboundResult")
    cases_result: PhaseResult = Field(alias="casesResult")
    reconciliation_result: PhaseResult = Field(alias="reconciliationResult")
    duration_ms: int = Field(alias="durationMs")
    timestamp: str


class Queued(BaseModel):
    """The 202 answer of `"async": true`."""

    success: Literal[True]
    sync_id: str = Field(alias="syncId")
    status: Literal["queued"]
    status_url: str = Field(alias="statusUrl")
    events_url: str = Field(alias="eventsUrl")


def sync_responses(result: type[BaseModel], *, partial: bool = False) -> dict[int | str, Any]:
    """A sync route's answers: the result, 207 when a full run had a failed phase, 202, errors."""
    answers: dict[int | str, Any] = {
        200: {"model": result, "description": "The run ended well"},
        202: {"model": Queued, "description": '`"async": true`: the run was started'},
    }
    if partial:
        answers[207] = {"model": result, "description": "A phase failed"}
    return {**answers, **error_responses(*SYNC_ERRORS)}


RunType = Literal["inbound", "cases", "reconciliation", "full"]
RunState = Literal["in_progress", "completed", "failed"]


class RunSummary(BaseModel):
    """A run as history lists it."""

    sync_id: str = Field(alias="syncId")
    type: RunType
    status: RunState
    triggered_by: Literal["api", "scheduler", "cli"] = Field(alias="triggeredBy")
    started_at: str = Field(alias="startedAt")
    completed_at: str | None = Field(alias="completedAt")
    duration_ms: int = Field(alias="durationMs")
    stats: dict[str, int]
    error: str | None


class Progress(BaseModel):
    """How far a run is."""

    percentage: int = Field(ge=0, le=100)
    processed: int
    total: int
    last_update: str | None = Field(alias="lastUpdate")


class PhaseDetail(RunSummary):
    """A phase of a full run."""

    progress: Progress
    parent_id: str | None = Field(None, alias="parentId")
    result: dict[str, Any] | None


class RunDetail(RunSummary):
    """`GET /api/sync/{syncId}`."""

    success: Literal[True]
    progress: Progress
    phases: list[PhaseDetail]
    result: dict[str, Any] | None = Field(description="What the POST answered; null while running.")


class History(BaseModel):
    """`GET /api/sync/history`."""

    success: Literal[True]
    runs: list[RunSummary]
    total: int
    success_rate: float | None = Field(alias="successRate")


class Job(BaseModel):
    """One schedule of a clinic, with its next and last run."""

    clinic_id: str = Field(alias="clinicId")
    type: RunType
    cron: str
    enabled: bool
    next_run_at: str | None = Field(alias="nextRunAt")
    last_run: dict[str, Any] | None = Field(alias="lastRun")


class SchedulerStatus(BaseModel):
    """`GET /api/scheduler/status`."""

    running: bool
    total_jobs: int = Field(alias="totalJobs")
    jobs_by_type: dict[str, int] = Field(alias="jobsByType")
    jobs: list[Job]
    invalid_schedules: list[dict[str, Any]] = Field(alias="invalidSchedules")


class ScheduleChanged(BaseModel):
    """`PATCH /api/scheduler/schedules`: the schedule as status lists it."""

    success: Literal[True]
    job: Job


class Health(BaseModel):
    """`GET /health` (200 healthy, 503 unhealthy: the same shape)."""

    status: Literal["healthy", "unhealthy"]
    uptime: float
    memory: dict[str, int]
    version: str
    checks: list[dict[str, Any]]


class Ready(BaseModel):
    """`GET /ready` (200 ready, 503 not ready)."""

    status: Literal["ready", "not_ready"]
    database: Literal["connected", "disconnected"]
    error: str | None = None


def without_422(schema: dict[str, Any]) -> dict[str, Any]:
    """Drop FastAPI's default 422 answers: bad input is a 400 in the envelope here."""
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            operation.get("responses", {}).pop("422", None)
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema
