"""`/api/availability`: free slots from the schedule mirror, and holds (docs/availability.md).

`GET /api/availability` gives each asked day's free slots, `GET /api/availability/next`
the next few (permission `appointments:read`); neither calls the PIMS unless the mirror
of the asked days is older than AVAILABILITY_MAX_AGE_SECONDS. `POST /holds` keeps a slot
for a few minutes, `DELETE /holds/{holdId}` lets it go (`appointments:write`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Path, Query
from pydantic import BeforeValidator, Field, StrictInt
from pydantic_core import PydanticCustomError

from pims_sync.api.deps import ApiKeyDep, QueryClinicDep, ServicesDep, request_clinic, require
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.api.sync_schemas import StartDate
from pims_sync.domain.api_keys import APPOINTMENTS_READ, APPOINTMENTS_WRITE
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.holds import DEFAULT_TTL_SECONDS, MAX_REFERENCE_CHARS, Hold, HoldState
from pims_sync.shapes.availability import (
    AvailabilityOut,
    DayOut,
    FreshnessOut,
    HoldOut,
    HoldReleased,
    NextSlotsOut,
    SlotOut,
)
from pims_sync.shapes.base import CamelModel
from pims_sync.sync.availability import Answer, Ask, Freshness, HoldAsk

router = APIRouter(prefix="/api/availability", tags=["availability"])

MAX_DAYS, MAX_COUNT = 14, 20
# What DELETE says, by what the hold was before it.
RELEASED_AS: dict[HoldState, Literal["released", "expired", "already_released"]] = {
    HoldState.LIVE: "released",
    HoldState.EXPIRED: "expired",
    HoldState.RELEASED: "already_released",
}
# An instant with its offset: `2026-06-11T09:00:00-05:00`, `…T14:00Z` (+ is %2B in a URL).
INSTANT_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?(Z|[+-]\d{2}:\d{2})")


def _instant_text(value: object) -> object:
    """Only ISO 8601 text with an offset (never a number, never a local time)."""
    if not isinstance(value, str) or not INSTANT_TEXT.fullmatch(value):
        raise PydanticCustomError(
            "instant", "must be an instant with its offset, e.g. 2026-06-11T09:00:00-05:00 or …Z"
        )
    return value


Instant = Annotated[datetime, BeforeValidator(_instant_text)]
Duration = Annotated[
    int | None,
    Query(ge=15, le=240, description="Minutes; default: the type's visit length, else one slot."),
]
AppointmentType = Annotated[
    str | None,
    Query(alias="appointmentType", max_length=100, description="Its `visitMinutes` length."),
]
ResourceId = Annotated[
    str | None,
    Query(
        alias="resourceId",
        min_length=1,
        max_length=64,
        description="Only this column (`resourceId`).",
    ),
]


def _ask(duration: int | None, appointment_type: str | None, resource_id: str | None) -> Ask:
    return Ask(duration, appointment_type, () if resource_id is None else (resource_id,))


def freshness_out(freshness: Freshness) -> FreshnessOut:
    """The answer's `freshness`."""
    return FreshnessOut(
        status=freshness.status,
        last_sync_at=freshness.last_sync_at,
        age_seconds=freshness.age_seconds,
        sync_id=freshness.sync_id,
        detail=freshness.detail,
    )


def _minutes(answer: Answer) -> int:
    return round(answer.duration.total_seconds() / 60)


@router.get(
    "",
    summary="Free slots of the asked days, from the schedule mirror",
    response_model=AvailabilityOut,
    responses=error_responses(*AUTHENTICATED_ERRORS, 503),
    dependencies=[Depends(require(APPOINTMENTS_READ))],
)
async def availability(
    services: ServicesDep,
    clinic: QueryClinicDep,
    day: Annotated[
        StartDate | None, Query(alias="date", description="The first day (default: today).")
    ] = None,
    days: Annotated[int, Query(ge=1, le=MAX_DAYS)] = 1,
    duration: Duration = None,
    appointment_type: AppointmentType = None,
    resource_id: ResourceId = None,
) -> AvailabilityOut:
    """Free slots of the asked days, each with the columns the visit fits on."""
    answer = await services.availability.days(
        clinic, _ask(duration, appointment_type, resource_id), day, days
    )
    return AvailabilityOut(
        clinic_id=clinic.id,
        timezone=clinic.timezone,
        generated_at=answer.generated_at,
        duration_minutes=_minutes(answer),
        freshness=freshness_out(answer.freshness),
        days=[
            DayOut(day=found.day, slots=[SlotOut.of(slot) for slot in found.slots])
            for found in answer.days
        ],
    )


@router.get(
    "/next",
    summary="The next free slots after a time",
    response_model=NextSlotsOut,
    responses=error_responses(*AUTHENTICATED_ERRORS, 503),
    dependencies=[Depends(require(APPOINTMENTS_READ))],
)
async def next_slots(
    services: ServicesDep,
    clinic: QueryClinicDep,
    after: Annotated[
        Instant | None,
        Query(description="An instant with its offset or `Z` (default: now)."),
    ] = None,
    count: Annotated[int, Query(ge=1, le=MAX_COUNT)] = 3,
    duration: Duration = None,
    appointment_type: AppointmentType = None,
    resource_id: ResourceId = None,
) -> NextSlotsOut:
    """The next free slots at or after a time, within the rules' horizon."""
    answer = await services.availability.next_free(
        clinic, _ask(duration, appointment_type, resource_id), after, count
    )
    return NextSlotsOut(
        clinic_id=clinic.id,
        timezone=clinic.timezone,
        generated_at=answer.generated_at,
        duration_minutes=_minutes(answer),
        freshness=freshness_out(answer.freshness),
        slots=[SlotOut.of(slot) for slot in answer.slots],
    )


class NewHoldBody(CamelModel):
    """A slot to hold: its start, the visit's length (or type), a column, for how long."""

    clinic_id: UUID | None = None
    start: Instant = Field(description="The visit's start, with its offset or `Z`.")
    duration: StrictInt | None = Field(
        None,
        ge=15,
        le=240,
        description="Minutes; left out: the type's visit length, else one slot.",
    )
    appointment_type: str | None = Field(None, max_length=100)
    resource_id: str | None = Field(
        None, min_length=1, max_length=64, description="The column; left out: the first free."
    )
    ttl_seconds: StrictInt = Field(
        DEFAULT_TTL_SECONDS, description="How long the hold lasts (30 to 900 seconds)."
    )
    reference: str | None = Field(
        None, max_length=MAX_REFERENCE_CHARS, description="Your label, e.g. a call id."
    )


def hold_out(hold: Hold, clinic: Clinic, ttl_seconds: int) -> HoldOut:
    """The 201 answer: the hold's times in the clinic's zone."""
    zone = clinic.zone
    return HoldOut(
        hold_id=hold.id,
        clinic_id=clinic.id,
        resource_id=hold.resource_id,
        start=hold.start.astimezone(zone),
        end=hold.end.astimezone(zone),
        expires_at=hold.expires_at,
        ttl_seconds=ttl_seconds,
        reference=hold.reference,
    )


@router.post(
    "/holds",
    status_code=201,
    summary="Hold a free slot for a few minutes",
    response_model=HoldOut,
    responses=error_responses(*AUTHENTICATED_ERRORS, 409, 413, 503),
    dependencies=[Depends(require(APPOINTMENTS_WRITE))],
)
async def place_hold(
    services: ServicesDep, key: ApiKeyDep, body: Annotated[NewHoldBody, Body()]
) -> HoldOut:
    """Hold a free slot for a few minutes (409 `slot_unavailable` with the next three)."""
    clinic = await request_clinic(services, key, body.clinic_id)
    wanted = HoldAsk(
        start=body.start,
        ask=_ask(body.duration, body.appointment_type, body.resource_id),
        ttl_seconds=body.ttl_seconds,
        reference=body.reference,
    )
    hold = await services.availability.hold(clinic, wanted)
    return hold_out(hold, clinic, body.ttl_seconds)


@router.delete(
    "/holds/{hold_id}",
    summary="Let a hold go",
    response_model=HoldReleased,
    responses=error_responses(*AUTHENTICATED_ERRORS, 503),
    dependencies=[Depends(require(APPOINTMENTS_WRITE))],
)
async def release_hold(
    services: ServicesDep,
    clinic: QueryClinicDep,
    hold_id: Annotated[UUID, Path(description="The hold's id (`holdId`).")],
) -> HoldReleased:
    """Let a hold go: it stops counting at once (404 `hold_not_found` if unknown)."""
    hold, before = await services.availability.release(clinic, hold_id)
    return HoldReleased(hold_id=hold.id, status=RELEASED_AS[before])
