"""FakeProvider: an in-memory PimsProvider with fault injection, for fast tests."""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime

from pims_sync.domain.appointments import (
    Appointment,
    CalendarPage,
    RejectedEvent,
    StaffEvent,
    overlaps,
)
from pims_sync.domain.consultations import Consultation
from pims_sync.errors import PimsAuthError, PimsNotFoundError
from pims_sync.ports.provider import ClinicLogin, check_window

OPERATIONS = ("login", "calendar", "consultation")


class FakeProvider:
    """Serves seeded appointments and consultations; fails on demand."""

    name = "Fake PIMS"

    def __init__(
        self,
        *,
        appointments: Iterable[Appointment] = (),
        consultations: Iterable[Consultation] = (),
        password: str | None = None,
        staff: Iterable[StaffEvent] = (),
        outside_per_fetch: int = 0,
        coerced_per_fetch: int = 0,
        spends_logins: bool = False,
    ) -> None:
        self.appointments = {a.appointment_id: a for a in appointments}
        # Malformed events the calendar lists (each fetch whose window they overlap).
        self.rejected: list[RejectedEvent] = []
        self.consultations = {c.id: c for c in consultations}
        self.password = password
        # Blocks and rosters, by (id, kind), listed by each fetch whose window they overlap.
        self.staff = {event.key: event for event in staff}
        # Staff events each fetch reports as unreadable (the mirror then holds staff removals).
        self.staff_unreadable_per_fetch = 0
        # What each fetch reports as ignored (outside the window) and coerced, as IDEXX would.
        self.outside_per_fetch = outside_per_fetch
        self.coerced_per_fetch = coerced_per_fetch
        self.logins = 0
        # Whether a session spends the run's login budget (a fake's sessions are not PIMS
        # logins: tests of the budget turn it on).
        self.spends_logins = spends_logins
        self.calls: dict[str, int] = defaultdict(int)
        self.open_sessions = 0
        self._faults: dict[str, deque[BaseException]] = defaultdict(deque)

    def fail_next(self, operation: str, error: BaseException, times: int = 1) -> None:
        """Make the next `times` calls of `operation` raise `error`."""
        if operation not in OPERATIONS:
            raise ValueError(f"unknown operation {operation!r}; use one of {OPERATIONS}")
        self._faults[operation].extend([error] * times)

    def raise_fault(self, operation: str) -> None:
        """Raise the next queued fault for this operation, if any."""
        self.calls[operation] += 1
        if self._faults[operation]:
            raise self._faults[operation].popleft()

    def move(self, appointment_id: str, **changes: object) -> None:
        """Change an appointment (time, status...) as the clinic would in the PIMS."""
        self.appointments[appointment_id] = replace(self.appointments[appointment_id], **changes)  # type: ignore[arg-type]

    @asynccontextmanager
    async def session(self, login: ClinicLogin) -> AsyncIterator[FakeSession]:
        """A session over the seeded data; wrong password → PimsAuthError.

        With `spends_logins`, every session is a fresh login: it spends one of the budget.
        """
        if self.spends_logins and login.logins is not None:
            await login.logins.spend()
        self.raise_fault("login")
        if self.password is not None and login.credentials.password != self.password:
            raise PimsAuthError("Invalid username or password")
        self.logins += 1
        self.open_sessions += 1
        session = FakeSession(self)
        try:
            yield session
        finally:
            session.closed = True
            self.open_sessions -= 1

    async def aclose(self) -> None:
        """Nothing to release."""


class FakeSession:
    """A logged-in fake session."""

    def __init__(self, provider: FakeProvider) -> None:
        self._provider = provider
        self.closed = False

    def _check_open(self) -> None:
        if self.closed:
            raise RuntimeError("the PIMS session is closed")

    async def fetch_appointments(self, start: datetime, end: datetime) -> CalendarPage:
        """Seeded appointments overlapping [start, end), sorted by start."""
        self._check_open()
        check_window(start, end)
        provider = self._provider
        provider.raise_fault("calendar")
        found = sorted(
            (a for a in provider.appointments.values() if overlaps(a.start, a.end, start, end)),
            key=lambda a: (a.start, a.appointment_id),
        )
        staff = sorted(
            (e for e in provider.staff.values() if overlaps(e.start, e.end, start, end)),
            key=lambda e: (e.start, e.event_id, e.kind.value),
        )
        return CalendarPage(
            tuple(found),
            staff=tuple(staff),
            rejected=tuple(r for r in provider.rejected if r.overlaps(start, end)),
            staff_unreadable=provider.staff_unreadable_per_fetch,
            outside_window=provider.outside_per_fetch,
            coerced=provider.coerced_per_fetch,
        )

    async def fetch_consultation(self, consultation_id: str) -> Consultation:
        """A seeded consultation, or PimsNotFoundError (queue PimsNotReadyError with fail_next)."""
        self._check_open()
        self._provider.raise_fault("consultation")
        try:
            return self._provider.consultations[consultation_id]
        except KeyError:
            raise PimsNotFoundError(f"no consultation {consultation_id}") from None
