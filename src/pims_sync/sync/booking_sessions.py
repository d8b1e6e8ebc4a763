"""PIMS sessions for booking writes: the clinic's login, within its daily budgets, never paused.

A booking write logs in like a run does (the session cache first, then a fresh login that
spends one of the clinic's daily logins) and counts its requests in the clinic's daily
request budget. A paused clinic (its password was refused, or runs kept failing) books
nothing until it is resumed: the same refusal as its runs (`clinic_paused`).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime

from pims_sync.domain.clinics import Clinic
from pims_sync.domain.health import DEFAULT_LOGIN_BUDGET
from pims_sync.ports.credentials import CredentialSource
from pims_sync.ports.health import ClinicHealthStore
from pims_sync.ports.login_budget import LoginLedger, allowance
from pims_sync.ports.provider import ClinicLogin, PimsWriteProvider, PimsWriteSession
from pims_sync.ports.request_budget import DailyBudget
from pims_sync.sync.guard import paused_error


class BookingSessions:
    """Opens a clinic's PIMS session for one booking request."""

    def __init__(
        self,
        *,
        provider: PimsWriteProvider,
        credentials: CredentialSource,
        health: ClinicHealthStore | None = None,
        budget: DailyBudget | None = None,
        logins: LoginLedger | None = None,
        login_budget: int = DEFAULT_LOGIN_BUDGET,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.provider = provider
        self._credentials = credentials
        self._health = health
        self._budget = budget
        self._logins = logins
        self._login_budget = login_budget
        self._now = now

    @asynccontextmanager
    async def open(self, clinic: Clinic) -> AsyncIterator[PimsWriteSession]:
        """A logged-in session of the clinic (409 paused, 429 past a daily budget)."""
        limit = self._login_budget
        if self._health is not None:
            health = await self._health.health(clinic.id)
            if health.paused:
                raise paused_error(health)
            limit = health.settings.login_budget(self._login_budget)
        now = self._now()
        meter = None if self._budget is None else await self._budget.meter(clinic.id, now)
        logins = None if self._logins is None else allowance(self._logins, clinic.id, now, limit)
        credentials = await self._credentials.load(clinic.id)
        login = ClinicLogin(
            clinic_id=clinic.id,
            credentials=credentials,
            timezone=clinic.timezone,
            meter=meter,
            logins=logins,
        )
        async with self.provider.session(login) as session:
            yield session
