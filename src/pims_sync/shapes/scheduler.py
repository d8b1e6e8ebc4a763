"""The scheduler over HTTP: `GET /api/scheduler/status`, `PATCH /api/scheduler/schedules`."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import Field, PlainSerializer, WithJsonSchema

from pims_sync.domain.runs import SyncType
from pims_sync.ports.schedules import FireStatus
from pims_sync.shapes.base import CamelModel
from pims_sync.shapes.freshness import ClinicFreshnessOut


def _utc_iso(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")


# The scheduler's instants: ISO 8601 as Python writes them (UTC as `Z`, no forced milliseconds).
ScheduleInstant = Annotated[
    datetime,
    PlainSerializer(_utc_iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


class LastRun(CamelModel):
    """A schedule's latest fire time and what became of it."""

    fire_at: ScheduleInstant
    status: FireStatus
    sync_id: UUID | None = Field(description="The run it started, if it started one.")
    reason: str | None = Field(description="Why it was skipped or failed.")
    finished_at: ScheduleInstant | None


class Job(CamelModel):
    """One valid schedule of a clinic, with its next and last run."""

    clinic_id: UUID
    clinic_name: str
    clinic_timezone: str
    type: SyncType
    cron: str = Field(description="Cron in the clinic's zone.")
    enabled: bool
    options: dict[str, Any]
    next_run_at: ScheduleInstant | None = Field(description="Null when disabled.")
    last_run: LastRun | None


class InvalidSchedule(CamelModel):
    """A stored schedule entry the scheduler skips, and why."""

    clinic_id: UUID
    index: int = Field(description="Its place in the clinic's entries (-1: the clinic's zone).")
    error: str


class SchedulerStatus(CamelModel):
    """`GET /api/scheduler/status`; `running` says whether this process runs a scheduler."""

    running: bool
    total_jobs: int = Field(description="Enabled schedules.")
    jobs_by_type: dict[str, int] = Field(description="Enabled schedules per type.")
    jobs: list[Job]
    invalid_schedules: list[InvalidSchedule]
    freshness: list[ClinicFreshnessOut] = Field(
        description="Each listed clinic's freshness status (docs/freshness.md)."
    )


class ScheduleChanged(CamelModel):
    """`PATCH /api/scheduler/schedules`: the schedule as the status lists it."""

    success: Literal[True] = True
    job: Job
