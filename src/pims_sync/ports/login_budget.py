"""The daily login budget: each clinic's fresh PIMS logins of a UTC day, across processes.

A login storm (a run restarted again and again, sessions that keep expiring) is how a
PIMS account gets locked. Before every fresh login (never for a cached session) the
provider spends one login from the run's `LoginAllowance`: the shared ledger (the
database) counts it with one atomic conditional increment, so processes together never
pass the budget. Past it the login is not attempted: `PimsLoginBudgetExhaustedError`,
before a browser is opened.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Protocol
from uuid import UUID

from pims_sync.errors import PimsLoginBudgetExhaustedError


class LoginLedger(Protocol):
    """Fresh PIMS logins per clinic and UTC day (`pims_request_usage.logins`)."""

    async def take_login(self, clinic_id: UUID, day: date, limit: int) -> bool:
        """Count one login if fewer than `limit` are counted for that day; False if not."""
        ...

    async def logins(self, clinic_id: UUID, day: date) -> int:
        """The clinic's logins counted for that day (0 when none)."""
        ...


@dataclass(frozen=True, slots=True)
class LoginAllowance:
    """One run's access to its clinic's login budget of the UTC day it started on."""

    ledger: LoginLedger
    clinic_id: UUID
    day: date
    limit: int

    async def spend(self) -> None:
        """Count one login about to be made; PimsLoginBudgetExhaustedError if none is left."""
        if not await self.ledger.take_login(self.clinic_id, self.day, self.limit):
            raise PimsLoginBudgetExhaustedError(
                f"the clinic's daily budget of {self.limit} PIMS logins for "
                f"{self.day.isoformat()} (UTC) is spent: no login was attempted; runs log in "
                "again after midnight UTC (`pims-sync clinics set --login-budget`)",
                clinic_id=str(self.clinic_id),
            )


def allowance(ledger: LoginLedger, clinic_id: UUID, at: datetime, limit: int) -> LoginAllowance:
    """The allowance of a run starting `at` (its day is the UTC date then)."""
    return LoginAllowance(ledger, clinic_id, at.astimezone(UTC).date(), limit)
