"""`GET/PUT /api/booking/config` and `pims-sync booking show --json`: a clinic's booking rules."""

from __future__ import annotations

from uuid import UUID

from pydantic import Field

from pims_sync.domain.booking import rules_document
from pims_sync.ports.booking import BookingConfig
from pims_sync.shapes.base import CamelModel, Instant, omitted


class BookingRulesOut(CamelModel):
    """The rules as their document (the same keys `PUT` takes)."""

    opening_hours: dict[str, list[str]] = Field(
        description='Each weekday\'s intervals, e.g. `"monday": ["08:00-12:00", "13:00-18:00"]`; '
        "`[]`: closed."
    )
    exceptions: dict[str, list[str]] = Field(
        description='Dated hours that replace the weekday\'s, e.g. `"2026-12-25": []`.'
    )
    slot_minutes: int = Field(description="The grid slots start on, from each opening.")
    visit_minutes: dict[str, int] = Field(description="A visit's length by appointment type.")
    bookable_resource_ids: list[str] = Field(description="Columns to book; `[]`: every one.")
    buffer_before_minutes: int
    buffer_after_minutes: int
    min_notice_minutes: int
    max_days_ahead: int
    rosters_define_working: bool = Field(
        description="A column is bookable only inside its rosters (staff shifts)."
    )


class BookingConfigOut(CamelModel):
    """A clinic's booking rules; `isDefault`: it has none of its own, these are the defaults."""

    clinic_id: UUID
    is_default: bool
    updated_at: Instant | None = omitted("When they were last set.")
    rules: BookingRulesOut

    @classmethod
    def of(cls, config: BookingConfig) -> BookingConfigOut:
        """From the stored config."""
        return cls(
            clinic_id=config.clinic_id,
            is_default=config.is_default,
            updated_at=config.updated_at,
            rules=BookingRulesOut.model_validate(rules_document(config.rules)),
        )
