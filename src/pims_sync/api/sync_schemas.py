"""Sync request bodies (validated, camelCase); what runs answer is in `shapes/`.

Bodies accept what callers of the original send (docs/api.md#starting-runs): `dateRange`
on inbound, `bidirectional` / `backwardDays` / `forwardDays` on full. Unknown fields are
ignored, as the original did. Every run option is checked by its declaration in
`domain/run_options.py` (bounds, defaults, the message), the one the CLI, the console and
the schedules use too (docs/api.md#run-options).
"""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any
from uuid import UUID

from pydantic import Field, GetCoreSchemaHandler, Strict, ValidationInfo, field_validator
from pydantic_core import CoreSchema, PydanticCustomError, core_schema

from pims_sync.api.schemas import CamelModel
from pims_sync.domain.run_options import (
    DAYS_AHEAD,
    DRY_RUN,
    END_DATE,
    FORCE,
    LOOKBACK_DAYS,
    PARALLEL_BATCH_SIZE,
    START_DATE,
    CountOption,
    RunOption,
    check_window,
)
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import OptionError
from pims_sync.sync.request import SyncRequest

Flag = Annotated[bool, Strict()]


class Checked:
    """Pydantic metadata: the field is checked by its run option's declaration, in its words."""

    def __init__(self, option: RunOption) -> None:
        self.option = option

    def _check(self, value: object) -> object:
        try:
            return self.option.check(value)
        except OptionError as error:
            raise PydanticCustomError("invalid_option", error.rule) from None

    def __get_pydantic_core_schema__(
        self, source: Any, handler: GetCoreSchemaHandler
    ) -> CoreSchema:
        """The declaration's check first; the inner schema gives OpenAPI its type and bounds."""
        option = self.option
        inner: CoreSchema = handler(source)
        if isinstance(option, CountOption):
            inner = core_schema.int_schema(ge=option.low, le=option.high, strict=True)
        return core_schema.no_info_before_validator_function(self._check, inner)


StartDate = Annotated[date, Checked(START_DATE)]
EndDate = Annotated[date, Checked(END_DATE)]
DaysAhead = Annotated[int, Checked(DAYS_AHEAD)]
LookbackDays = Annotated[int, Checked(LOOKBACK_DAYS)]
ParallelBatchSize = Annotated[int, Checked(PARALLEL_BATCH_SIZE)]
Force = Annotated[bool, Checked(FORCE)]
DryRun = Annotated[bool, Checked(DRY_RUN)]


def _after_start(end: date | None, start: date | None, names: tuple[str, str]) -> date | None:
    """The end day, if it is not before the start day and the window is not too long."""
    try:
        check_window(start, end, names=names)
    except OptionError as error:
        raise PydanticCustomError("invalid_option", error.rule) from None
    return end


def described(option: RunOption, default: object, text: str = "") -> Any:
    """The field's default and its description (the declaration's, unless given)."""
    return Field(default, description=text or f"{option.description}.")


class DateRange(CamelModel):
    """The original's `dateRange: {start, end}` (flat `startDate`/`endDate` win)."""

    start: StartDate | None = None
    end: EndDate | None = None

    @field_validator("end")
    @classmethod
    def _ordered(cls, end: date | None, info: ValidationInfo) -> date | None:
        return _after_start(end, info.data.get("start"), ("start", "end"))


class SyncBody(CamelModel):
    """What every sync body takes: the clinic (service keys) and the answer mode."""

    clinic_id: UUID | None = None
    run_async: Flag = Field(
        False, alias="async", description="Answer 202 at once; follow statusUrl / eventsUrl."
    )

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The service request this body asks for."""
        raise NotImplementedError


WINDOW_NAMES = (START_DATE.name, END_DATE.name)


class InboundBody(SyncBody):
    """`POST /api/sync/inbound`: appointments of a window → cases."""

    start_date: StartDate | None = described(START_DATE, None, "First day (default today).")
    end_date: EndDate | None = described(END_DATE, None, "Last day (default start + daysAhead).")
    days_ahead: DaysAhead = described(DAYS_AHEAD, DAYS_AHEAD.default)
    date_range: DateRange | None = None

    @field_validator("end_date")
    @classmethod
    def _ordered(cls, end: date | None, info: ValidationInfo) -> date | None:
        return _after_start(end, info.data.get("start_date"), WINDOW_NAMES)

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """Flat dates first, then `dateRange` (as the original did, field by field)."""
        ranged = self.date_range or DateRange()
        # A window mixing flat and ranged dates is checked by the service (400 too).
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.INBOUND,
            triggered_by=triggered_by,
            start_date=self.start_date or ranged.start,
            end_date=self.end_date or ranged.end,
            days_ahead=self.days_ahead,
        )


class CasesBody(SyncBody):
    """`POST /api/sync/cases`: enrich past cases with their consultations."""

    start_date: StartDate | None = described(START_DATE, None, "First day (default today − 7).")
    end_date: EndDate | None = described(END_DATE, None, "Last day (default today).")
    parallel_batch_size: ParallelBatchSize = described(
        PARALLEL_BATCH_SIZE, PARALLEL_BATCH_SIZE.default
    )

    @field_validator("end_date")
    @classmethod
    def _ordered(cls, end: date | None, info: ValidationInfo) -> date | None:
        return _after_start(end, info.data.get("start_date"), WINDOW_NAMES)

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The cases request."""
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.CASES,
            triggered_by=triggered_by,
            start_date=self.start_date,
            end_date=self.end_date,
            parallel_batch_size=self.parallel_batch_size,
        )


class ReconcileBody(SyncBody):
    """`POST /api/sync/reconcile`: soft-delete cases whose appointment left the PIMS."""

    lookback_days: LookbackDays = described(LOOKBACK_DAYS, LOOKBACK_DAYS.default)
    force: Force = described(FORCE, FORCE.default)
    dry_run: DryRun = described(DRY_RUN, DRY_RUN.default)

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The reconciliation request."""
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.RECONCILIATION,
            triggered_by=triggered_by,
            lookback_days=self.lookback_days,
            force=self.force,
            dry_run=self.dry_run,
        )


class FullBody(SyncBody):
    """`POST /api/sync/full`: inbound, cases, reconciliation in one run, one login.

    `forwardDays` / `backwardDays` are the original's names for `daysAhead` /
    `lookbackDays`; giving both names with different values is refused.
    `bidirectional` is accepted and has no effect: every full run covers both sides.
    """

    days_ahead: DaysAhead | None = described(DAYS_AHEAD, None)
    lookback_days: LookbackDays | None = described(LOOKBACK_DAYS, None)
    start_date: StartDate | None = described(START_DATE, None, "Day the window centres on.")
    forward_days: DaysAhead | None = described(DAYS_AHEAD, None, "Alias of daysAhead.")
    backward_days: LookbackDays | None = described(LOOKBACK_DAYS, None, "Alias of lookbackDays.")
    parallel_batch_size: ParallelBatchSize = described(
        PARALLEL_BATCH_SIZE, PARALLEL_BATCH_SIZE.default
    )
    bidirectional: Flag = True
    force: Force = described(FORCE, FORCE.default)

    @field_validator("forward_days")
    @classmethod
    def _same_ahead(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _same_as(value, info.data.get("days_ahead"), DAYS_AHEAD.name)

    @field_validator("backward_days")
    @classmethod
    def _same_back(cls, value: int | None, info: ValidationInfo) -> int | None:
        return _same_as(value, info.data.get("lookback_days"), LOOKBACK_DAYS.name)

    def request(self, clinic_id: UUID, triggered_by: Trigger) -> SyncRequest:
        """The full request (the original's names resolved; 0 is a value, not "not given")."""
        return SyncRequest(
            clinic_id=clinic_id,
            sync_type=SyncType.FULL,
            triggered_by=triggered_by,
            start_date=self.start_date,
            days_ahead=_given(self.days_ahead, self.forward_days, DAYS_AHEAD.default),
            lookback_days=_given(self.lookback_days, self.backward_days, LOOKBACK_DAYS.default),
            parallel_batch_size=self.parallel_batch_size,
            force=self.force,
        )


def _given(value: int | None, alias_value: int | None, default: int) -> int:
    """The value under our name, else under the original's, else the default."""
    if value is not None:
        return value
    return alias_value if alias_value is not None else default


def _same_as(alias_value: int | None, value: int | None, name: str) -> int | None:
    if alias_value is not None and value is not None and alias_value != value:
        raise PydanticCustomError("conflict", f"differs from {name}; give one of the two")
    return alias_value


BODY_BY_TYPE: dict[SyncType, type[SyncBody]] = {
    SyncType.INBOUND: InboundBody,
    SyncType.CASES: CasesBody,
    SyncType.RECONCILIATION: ReconcileBody,
    SyncType.FULL: FullBody,
}
