"""`/api/booking/config`: a clinic's booking rules (docs/availability.md#booking-rules).

`GET` (permission `appointments:read`) gives the rules, the defaults when none were set;
`PUT` (`appointments:write`) replaces them: a rule left out takes its default.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Body, Depends
from pydantic import ConfigDict, Field, StrictBool, StrictInt

from pims_sync.api.deps import ApiKeyDep, QueryClinicDep, ServicesDep, request_clinic, require
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.domain.api_keys import APPOINTMENTS_READ, APPOINTMENTS_WRITE
from pims_sync.domain.booking import parse_rules
from pims_sync.shapes.base import CamelModel
from pims_sync.shapes.booking import BookingConfigOut

router = APIRouter(prefix="/api/booking", tags=["availability"])


class BookingRulesBody(CamelModel):
    """The whole rules; a rule left out (or null) takes its default."""

    model_config = ConfigDict(extra="forbid")

    clinic_id: UUID | None = None
    opening_hours: dict[str, list[str]] | None = Field(
        None,
        description="The whole week: a day left out is closed.",
        examples=[{"monday": ["08:00-12:00", "13:00-18:00"], "saturday": ["09:00-13:00"]}],
    )
    exceptions: dict[str, list[str]] | None = Field(None, examples=[{"2026-12-25": []}])
    slot_minutes: StrictInt | None = None
    visit_minutes: dict[str, StrictInt] | None = Field(None, examples=[{"Surgery": 120}])
    bookable_resource_ids: list[str] | None = None
    buffer_before_minutes: StrictInt | None = None
    buffer_after_minutes: StrictInt | None = None
    min_notice_minutes: StrictInt | None = None
    max_days_ahead: StrictInt | None = None
    rosters_define_working: StrictBool | None = None

    def document(self) -> dict[str, Any]:
        """The rules document this body gives (the clinic apart)."""
        given = self.model_dump(by_alias=True, exclude={"clinic_id"}, exclude_none=True)
        return dict(given)


@router.get(
    "/config",
    summary="The clinic's booking rules (the defaults until some are set)",
    response_model=BookingConfigOut,
    responses=error_responses(*AUTHENTICATED_ERRORS),
    dependencies=[Depends(require(APPOINTMENTS_READ))],
)
async def get_booking_config(services: ServicesDep, clinic: QueryClinicDep) -> BookingConfigOut:
    """The clinic's booking rules: hours, slots, visit lengths, columns, buffers, notice."""
    return BookingConfigOut.of(await services.booking.get(clinic.id))


@router.put(
    "/config",
    summary="Replace the clinic's booking rules",
    response_model=BookingConfigOut,
    responses=error_responses(*AUTHENTICATED_ERRORS, 413),
    dependencies=[Depends(require(APPOINTMENTS_WRITE))],
)
async def put_booking_config(
    services: ServicesDep, key: ApiKeyDep, body: Annotated[BookingRulesBody, Body()]
) -> BookingConfigOut:
    """Replace the clinic's booking rules (a rule left out takes its default)."""
    clinic = await request_clinic(services, key, body.clinic_id)
    rules = parse_rules(body.document())
    return BookingConfigOut.of(await services.booking.put(clinic.id, rules, at=datetime.now(UTC)))
