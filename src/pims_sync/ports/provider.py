"""The PIMS provider port: open a logged-in session for a clinic, read (and book) through it."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from uuid import UUID
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import CalendarPage
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.credentials import PimsCredentials
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
from pims_sync.errors import InvalidInputError
from pims_sync.ports.login_budget import LoginAllowance
from pims_sync.ports.request_budget import RequestMeter


@dataclass(frozen=True, slots=True, repr=False)
class ClinicLogin:
    """Who to log in as, and the clinic time zone the PIMS speaks in."""

    clinic_id: UUID
    credentials: PimsCredentials
    timezone: str = "America/Los_Angeles"
    # The run's share of the clinic's daily PIMS request budget (None: not counted).
    meter: RequestMeter | None = None
    # The run's share of the clinic's daily login budget, spent before each fresh login.
    logins: LoginAllowance | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone."""
        return ZoneInfo(self.timezone)

    def __repr__(self) -> str:
        return f"ClinicLogin(clinic_id={self.clinic_id}, timezone={self.timezone!r})"


class PimsSession(Protocol):
    """A logged-in session; every failure raises a `PimsError`, never an empty result."""

    async def fetch_appointments(self, start: datetime, end: datetime) -> CalendarPage:
        """Appointments overlapping [start, end) (aware instants); blocks/rosters counted.

        A stay that began before `start` and lasts into the window is one of them, with its
        true start. Events the PIMS listed but that cannot be read are in `rejected` (not an
        error of the call): the pipeline reports them per item and never deletes their
        cases. Events wholly outside the window are ignored (`outside_window` counts them).
        """
        ...

    async def fetch_consultation(self, consultation_id: str) -> Consultation:
        """One consultation; `PimsNotFoundError` when the PIMS has none with this id yet.

        `PimsNotReadyError` (a PimsNotFoundError) when the PIMS refuses it for now (an
        unfinished consultation): the caller skips it and asks again on a later run.
        """
        ...


class PimsWriteSession(PimsSession, Protocol):
    """A session that also books: the write-back's calls (docs/provider.md#writes).

    No write is ever retried here. A failed write raises a `PimsWriteError` that says what
    is known: `PimsWriteRefusedError` (`PimsSlotTakenError` for an overlap) and
    `PimsWriteNotSentError` changed nothing; `PimsWriteOutcomeUnknownError` may have been
    applied, and only a read-back (`fetch_appointments`, `get_appointment`) can tell.
    Reads keep their retry policy; writes share the reads' rate limit and daily budget.
    """

    async def search_patients(self, query: str, limit: int) -> list[PatientMatch]:
        """Patients matching `query` (name, id, owner's name), at most `limit` (1..100)."""
        ...

    async def create_client(self, new: NewClient) -> PimsClient:
        """Register a client; the PIMS's answer (its new id) is returned."""
        ...

    async def create_patient(self, new: NewPatient, client: PimsClient) -> PimsPatient:
        """Register a patient for `client` (as created or found); its new id is returned."""
        ...

    async def create_appointment(self, request: AppointmentRequest) -> None:
        """Book one appointment. The PIMS answers with no id: find it by reading back."""
        ...

    async def cancel_appointment(
        self, appointment_id: str, reason: str, action: CancelAction = "cancel"
    ) -> None:
        """Cancel (record kept, shown cancelled) or delete (gone) one appointment.

        `PimsNotFoundError` when the PIMS has no such appointment (or it was deleted).
        """
        ...

    async def get_appointment(self, appointment_id: str) -> AppointmentDetails:
        """One appointment by id, cancelled ones too; `PimsNotFoundError` when absent."""
        ...

    async def appointment_view(self) -> AppointmentView:
        """The calendar's appointment types, rooms (columns), providers and hours."""
        ...


class PimsProvider(Protocol):
    """A PIMS: opens sessions (async context managers) and owns shared resources."""

    name: str

    def session(self, login: ClinicLogin) -> AbstractAsyncContextManager[PimsSession]:
        """Log in (or reuse a cached session) on entry; release the clinic's context on exit."""
        ...

    async def aclose(self) -> None:
        """Release everything (browser process, HTTP pools)."""
        ...


class PimsWriteProvider(Protocol):
    """A PIMS whose sessions book too (IdexxProvider and FakeProvider both are one)."""

    name: str

    def session(self, login: ClinicLogin) -> AbstractAsyncContextManager[PimsWriteSession]:
        """Log in (or reuse a cached session) on entry; release the clinic's context on exit."""
        ...

    async def aclose(self) -> None:
        """Release everything (browser process, HTTP pools)."""
        ...


def check_window(start: datetime, end: datetime) -> None:
    """Refuse naive instants and windows that end before they start."""
    if start.tzinfo is None or end.tzinfo is None:
        raise InvalidInputError("appointment window needs timezone-aware datetimes")
    if end <= start:
        raise InvalidInputError("appointment window ends before it starts")
