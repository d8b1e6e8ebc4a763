"""The daily PIMS request budget: each clinic's requests of a UTC day, counted across processes.

A run opens a `RequestMeter` before it logs in: if the clinic's day is already spent, the
run fails at once (`pims_budget_exhausted`); otherwise every request the session sends
is counted against what is left, and the counts reach the shared ledger (the database)
every `FLUSH_EVERY` requests and when the run ends. One run per clinic is live at a
time, so the meter's view of the day is exact but for runs of other processes that
crashed before flushing (at most `FLUSH_EVERY` requests each).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from uuid import UUID

from pims_sync.errors import PimsBudgetExhaustedError

log = logging.getLogger(__name__)

FLUSH_EVERY = 50


class RequestLedger(Protocol):
    """PIMS requests per clinic and UTC day (`pims_request_usage`), summed by every process."""

    async def used(self, clinic_id: UUID, day: date) -> int:
        """The clinic's requests recorded for that day (0 when none)."""
        ...

    async def add(self, clinic_id: UUID, day: date, requests: int) -> None:
        """Add requests to the clinic's day, atomically (concurrent adds all count)."""
        ...


def _exhausted(clinic_id: UUID, day: date, limit: int) -> PimsBudgetExhaustedError:
    return PimsBudgetExhaustedError(
        f"the clinic's daily budget of {limit} PIMS requests for {day.isoformat()} (UTC) is "
        "spent; runs start again after midnight UTC (PIMS_DAILY_REQUEST_BUDGET)",
        clinic_id=str(clinic_id),
    )


class RequestMeter:
    """One run's PIMS requests: refused past the day's allowance, flushed to the ledger."""

    def __init__(
        self, ledger: RequestLedger, *, clinic_id: UUID, day: date, limit: int, used: int
    ) -> None:
        self._ledger = ledger
        self._clinic_id = clinic_id
        self._day = day
        self._limit = limit
        self._allowance = max(0, limit - used)
        self.sent = 0
        self._pending = 0

    async def spend(self) -> None:
        """Count one request about to be sent; PimsBudgetExhaustedError if none is left."""
        if self.sent >= self._allowance:
            await self.flush()
            raise _exhausted(self._clinic_id, self._day, self._limit)
        self.sent += 1
        self._pending += 1
        if self._pending >= FLUSH_EVERY:
            await self.flush()

    async def flush(self) -> None:
        """Record the requests counted since the last flush (a failure keeps them for later)."""
        count, self._pending = self._pending, 0
        if count == 0:
            return
        try:
            await self._ledger.add(self._clinic_id, self._day, count)
        except Exception:
            self._pending += count
            log.warning("could not record the run's PIMS requests", exc_info=True)


@dataclass(frozen=True, slots=True)
class DailyBudget:
    """PIMS requests one clinic may send per UTC day, all processes together."""

    ledger: RequestLedger
    limit: int

    async def meter(self, clinic_id: UUID, at: datetime) -> RequestMeter:
        """A meter for a run starting `at`; PimsBudgetExhaustedError if the day is spent."""
        day = at.astimezone(UTC).date()
        used = await self.ledger.used(clinic_id, day)
        if used >= self.limit:
            raise _exhausted(clinic_id, day, self.limit)
        return RequestMeter(self.ledger, clinic_id=clinic_id, day=day, limit=self.limit, used=used)
