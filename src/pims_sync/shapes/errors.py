"""The error envelope every error answer shares (docs/api.md#every-error-code)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pims_sync.shapes.availability import SlotOut
from pims_sync.shapes.base import CamelModel, Instant, omitted


class FieldProblem(CamelModel):
    """One bad field of a 400 `validation_error`."""

    field: str = Field(description="Where, e.g. `body.daysAhead`, `query.limit`.")
    message: str


class ErrorBody(CamelModel):
    """`{success: false, error, code, timestamp}`, and what some errors add."""

    success: Literal[False] = False
    error: str = Field(description="What went wrong, for people.")
    code: str = Field(description="What went wrong, for programs, e.g. `validation_error`.")
    timestamp: Instant
    validation_errors: list[FieldProblem] | None = omitted("The bad fields of a 400.")
    sync_id: str | None = omitted("The run concerned.")
    alternatives: list[SlotOut] | None = omitted(
        "409 `slot_unavailable`: the next free slots after the one asked for."
    )
