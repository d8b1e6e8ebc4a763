"""Sync request bodies → SyncRequest: defaults, the original's names, date rules."""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from pydantic import ValidationError

from pims_sync.api.sync_schemas import CasesBody, FullBody, InboundBody, ReconcileBody
from pims_sync.domain.runs import SyncType, Trigger

CLINIC = uuid.uuid4()


def test_empty_bodies_take_the_spec_defaults() -> None:
    inbound = InboundBody().request(CLINIC, Trigger.API)
    assert (inbound.sync_type, inbound.days_ahead, inbound.start_date) == (
        SyncType.INBOUND,
        7,
        None,
    )
    cases = CasesBody.model_validate({}).request(CLINIC, Trigger.CLI)
    assert (cases.parallel_batch_size, cases.triggered_by) == (5, Trigger.CLI)
    reconcile = ReconcileBody.model_validate({}).request(CLINIC, Trigger.API)
    assert (reconcile.lookback_days, reconcile.force, reconcile.dry_run) == (7, False, False)
    full = FullBody.model_validate({}).request(CLINIC, Trigger.API)
    assert (full.sync_type, full.days_ahead, full.lookback_days) == (SyncType.FULL, 7, 7)
    assert FullBody.model_validate({"async": True}).run_async is True


def test_the_originals_full_body_maps_to_days_ahead_and_lookback() -> None:
    body = {"clinicId": str(CLINIC), "bidirectional": True, "backwardDays": 10, "forwardDays": 3}
    request = FullBody.model_validate(body).request(CLINIC, Trigger.API)
    assert (request.lookback_days, request.days_ahead) == (10, 3)
    same = FullBody.model_validate({"daysAhead": 4, "forwardDays": 4}).request(CLINIC, Trigger.API)
    assert same.days_ahead == 4
    with pytest.raises(ValidationError) as raised:
        FullBody.model_validate({"lookbackDays": 4, "backwardDays": 5})
    assert raised.value.errors()[0]["loc"] == ("backwardDays",)
    # 0 ("that day only") is a value, not "not given": it does not fall back to 7.
    zero = FullBody.model_validate({"daysAhead": 0, "backwardDays": 0}).request(CLINIC, Trigger.API)
    assert (zero.days_ahead, zero.lookback_days) == (0, 0)


def test_flat_dates_win_over_date_range_field_by_field() -> None:
    body = {"startDate": "2026-01-05", "dateRange": {"start": "2026-01-01", "end": "2026-01-09"}}
    request = InboundBody.model_validate(body).request(CLINIC, Trigger.API)
    assert (request.start_date, request.end_date) == (date(2026, 1, 5), date(2026, 1, 9))


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"startDate": "2026-1-5"}, "must be a date as YYYY-MM-DD"),
        ({"startDate": "2026-01-05T00:00:00"}, "must be a date as YYYY-MM-DD"),
        ({"startDate": "2026-02-29"}, "is not a real date"),
        ({"startDate": "2026-01-05", "endDate": "2026-01-04"}, "must not be before startDate"),
        ({"startDate": "2024-01-01", "endDate": "2024-12-31"}, None),  # 366 days: allowed
        ({"startDate": "2024-01-01", "endDate": "2025-01-01"}, "at most 366 days"),
    ],
)
def test_date_rules(body: dict[str, str], message: str | None) -> None:
    if message is None:
        assert CasesBody.model_validate(body).end_date is not None
        return
    with pytest.raises(ValidationError) as raised:
        CasesBody.model_validate(body)
    assert message in raised.value.errors()[0]["msg"]
