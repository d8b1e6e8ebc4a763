"""FakeProvider: an in-memory PimsProvider (reads and bookings) with fault injection.

Its bookings behave as IDEXX's do (docs/provider.md#writes): a create answers with no id,
a booking overlapping a live appointment or a block of the same column is refused
(`PimsSlotTakenError`), unknown patients, types, rooms and providers are refused, and
`lose_next_answer` applies a write and then loses its answer (the double-booking case).
"""

from __future__ import annotations

from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import replace
from datetime import datetime
from typing import TypeVar

from pims_sync.adapters.memory.bookings import FakeBookings
from pims_sync.domain.appointments import (
    Appointment,
    CalendarPage,
    RejectedEvent,
    StaffEvent,
    overlaps,
)
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.pims_writes import (
    AppointmentDetails,
    AppointmentRequest,
    AppointmentView,
    CancelAction,
    NewClient,
    NewPatient,
    PatientMatch,
    PimsClient,
    PimsPatient,
)
from pims_sync.errors import PimsAuthError, PimsNotFoundError, PimsWriteOutcomeUnknownError
from pims_sync.ports.provider import ClinicLogin, check_window

READ_OPERATIONS = ("login", "calendar", "consultation", "search", "appointment", "view")
# The writes: `lose_next_answer` applies to these only.
WRITE_OPERATIONS = ("create", "cancel", "create-client", "create-patient")
OPERATIONS = READ_OPERATIONS + WRITE_OPERATIONS
T = TypeVar("T")


class FakeProvider(FakeBookings):
    """Serves seeded appointments and consultations, takes bookings; fails on demand."""

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
        self._lost: dict[str, int] = defaultdict(int)
        super().__init__()

    def lose_next_answer(self, operation: str, times: int = 1) -> None:
        """Apply the next `times` writes of `operation`, then lose their answers.

        The call raises `PimsWriteOutcomeUnknownError` although the write took effect: the
        connection that drops after IDEXX applied a booking.
        """
        if operation not in WRITE_OPERATIONS:
            raise ValueError(f"unknown write {operation!r}; use one of {WRITE_OPERATIONS}")
        self._lost[operation] += times

    def answer_lost(self, operation: str) -> bool:
        """Whether this write's answer is to be lost (counting it down)."""
        if self._lost[operation] > 0:
            self._lost[operation] -= 1
            return True
        return False

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
        session = FakeSession(self, login)
        try:
            yield session
        finally:
            session.closed = True
            self.open_sessions -= 1

    async def aclose(self) -> None:
        """Nothing to release."""


class FakeSession:
    """A logged-in fake session."""

    def __init__(self, provider: FakeProvider, login: ClinicLogin) -> None:
        self._provider = provider
        self._zone = login.zone
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

    async def search_patients(self, query: str, limit: int) -> list[PatientMatch]:
        """Seeded and created patients matching every word of the query."""
        self._read("search")
        return self._provider.search(query, limit)

    async def get_appointment(self, appointment_id: str) -> AppointmentDetails:
        """An appointment by id (cancelled ones too); PimsNotFoundError when absent."""
        self._read("appointment")
        return self._provider.details(appointment_id)

    async def appointment_view(self) -> AppointmentView:
        """The fake's types, rooms and providers (`FakeProvider.view`)."""
        self._read("view")
        return self._provider.view

    async def create_client(self, new: NewClient) -> PimsClient:
        """A new client (fresh id)."""
        return self._write("create-client", lambda: self._provider.register_client(new))

    async def create_patient(self, new: NewPatient, client: PimsClient) -> PimsPatient:
        """A new patient of a known client (fresh id)."""
        return self._write("create-patient", lambda: self._provider.register_patient(new, client))

    async def create_appointment(self, request: AppointmentRequest) -> None:
        """Book; like IDEXX, the answer carries no id."""
        self._write("create", lambda: self._provider.book(request, self._zone))

    async def cancel_appointment(
        self, appointment_id: str, reason: str, action: CancelAction = "cancel"
    ) -> None:
        """Cancel (kept, shown cancelled) or delete one appointment."""
        self._write("cancel", lambda: self._provider.unbook(appointment_id, reason, action))

    def _read(self, operation: str) -> None:
        self._check_open()
        self._provider.raise_fault(operation)

    def _write(self, operation: str, apply: Callable[[], T]) -> T:
        """Queued faults strike before the write; a lost answer strikes after it."""
        self._check_open()
        self._provider.raise_fault(operation)
        result = apply()
        if self._provider.answer_lost(operation):
            raise PimsWriteOutcomeUnknownError(
                f"Fake PIMS {operation}: the answer was lost after the write", endpoint=operation
            )
        return result
