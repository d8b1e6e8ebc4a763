"""The daily PIMS request budget (issue 20, item 3): the meter a run spends from."""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime

import pytest

from pims_sync.adapters.memory.request_usage import MemoryRequestLedger
from pims_sync.errors import PimsBudgetExhaustedError
from pims_sync.ports.request_budget import FLUSH_EVERY, DailyBudget

CLINIC = uuid.UUID(int=7)
DAY = date(2026, 6, 1)
# 23:30 in Los Angeles on 31 May is already 1 June in UTC: the budget's day is UTC's.
NOW = datetime(2026, 6, 1, 6, 30, tzinfo=UTC)


async def test_a_spent_day_refuses_the_run_before_any_request() -> None:
    ledger = MemoryRequestLedger()
    await ledger.add(CLINIC, DAY, 100)
    with pytest.raises(PimsBudgetExhaustedError) as refused:
        await DailyBudget(ledger, 100).meter(CLINIC, NOW)
    assert refused.value.code == "pims_budget_exhausted"
    assert "100 PIMS requests for 2026-06-01 (UTC)" in str(refused.value)
    other_day = datetime(2026, 6, 2, 0, 0, tzinfo=UTC)
    assert (await DailyBudget(ledger, 100).meter(CLINIC, other_day)).sent == 0


async def test_a_run_spends_what_is_left_and_every_request_reaches_the_ledger() -> None:
    ledger = MemoryRequestLedger()
    await ledger.add(CLINIC, DAY, 40)
    meter = await DailyBudget(ledger, 160).meter(CLINIC, NOW)
    for _ in range(120):
        await meter.spend()
    assert await ledger.used(CLINIC, DAY) == 40 + 2 * FLUSH_EVERY  # flushed every 50
    with pytest.raises(PimsBudgetExhaustedError):
        await meter.spend()
    assert meter.sent == 120
    assert await ledger.used(CLINIC, DAY) == 160  # the refusal flushed the rest
    await meter.flush()
    assert await ledger.used(CLINIC, DAY) == 160


class FailingLedger(MemoryRequestLedger):
    def __init__(self) -> None:
        super().__init__()
        self.down = True

    async def add(self, clinic_id: uuid.UUID, day: date, requests: int) -> None:
        if self.down:
            raise ConnectionError("database unreachable")
        await super().add(clinic_id, day, requests)


async def test_a_failed_flush_keeps_the_count_for_the_next() -> None:
    ledger = FailingLedger()
    meter = await DailyBudget(ledger, 1000).meter(CLINIC, NOW)
    for _ in range(FLUSH_EVERY + 3):
        await meter.spend()
    ledger.down = False
    await meter.flush()
    assert await ledger.used(CLINIC, DAY) == FLUSH_EVERY + 3
