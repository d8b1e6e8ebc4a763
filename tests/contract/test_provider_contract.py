"""One contract for every PimsProvider: the in-memory fake and IDEXX (real Chromium + simulator)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.domain.appointments import Appointment, CalendarPage, Client, Patient
from pims_sync.domain.consultations import Consultation, InvoiceLine
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import InvalidInputError, PimsAuthError, PimsNotFoundError
from pims_sync.ports.provider import ClinicLogin, PimsProvider

pytestmark = pytest.mark.asyncio(loop_scope="session")


@dataclass
class ProviderWorld:
    """A provider plus what the contract needs to know about its data."""

    provider: PimsProvider
    login: ClinicLogin
    window: tuple[datetime, datetime]
    consultation_id: str
    missing_consultation_id: str
    # Makes the PIMS list multi-day stays (boarding), if it needs telling.
    show_stays: Callable[[], None] = lambda: None

    @property
    def bad_login(self) -> ClinicLogin:
        credentials = replace(self.login.credentials, password="definitely-wrong")
        return replace(self.login, credentials=credentials)


def fake_world() -> ProviderWorld:
    """A FakeProvider: two visits on 2026-01-22 (LA), a stay begun before, a consultation."""
    day = datetime(2026, 1, 22, 17, 0, tzinfo=UTC)
    appointments = [
        Appointment(
            appointment_id=str(351412 + i),
            start=day + timedelta(minutes=30 * i),
            end=day + timedelta(minutes=30 * i + 15),
            consultation_id="728004" if i == 0 else None,
            status="Finalized",
            patient=Patient(id="41873", name="PENNY"),
            client=Client(id="17342", first_name="MARIA", last_name="LOPEZ"),
        )
        for i in range(2)
    ]
    stay_start = datetime(2026, 1, 20, 16, 0, tzinfo=UTC)  # two days before the window
    appointments.append(
        Appointment(
            appointment_id="351300",
            start=stay_start,
            end=stay_start + timedelta(days=4),
            type_description="Boarding",
        )
    )
    consultation = Consultation(
        id="728004",
        status="completed",
        notes_html="<p>A: gastritis</p>",
        notes_text="A: gastritis",
        lines=(InvoiceLine(id="1", name="Exam"),),
    )
    provider = FakeProvider(
        appointments=appointments, consultations=[consultation], password="right-password"
    )
    login = ClinicLogin(
        clinic_id=uuid.uuid4(),
        credentials=PimsCredentials(username="vet@example.com", password="right-password"),
    )
    start = datetime(2026, 1, 22, 8, 0, tzinfo=UTC)
    return ProviderWorld(provider, login, (start, start + timedelta(days=1)), "728004", "999999")


def _idexx_world(request: pytest.FixtureRequest) -> ProviderWorld:
    world: Any = request.getfixturevalue("idexx_contract_world")
    assert isinstance(world, ProviderWorld)
    sim: Any = request.getfixturevalue("sim")
    world.show_stays = lambda: sim.settings(multiDayStays=True)
    return world


@pytest.fixture(params=["fake", pytest.param("idexx", marks=pytest.mark.browser)])
def world(request: pytest.FixtureRequest) -> ProviderWorld:
    if request.param == "fake":
        return fake_world()
    return _idexx_world(request)


async def test_a_session_fetches_appointments_with_aware_times(world: ProviderWorld) -> None:
    async with world.provider.session(world.login) as session:
        page = await session.fetch_appointments(*world.window)
    assert isinstance(page, CalendarPage)
    assert len(page) > 0
    for appointment in page.appointments:
        assert appointment.appointment_id
        assert appointment.start.utcoffset() is not None
        assert appointment.end > appointment.start
        # Appointments overlapping the window are its own.
        assert appointment.start < world.window[1]
        assert appointment.end > world.window[0]


async def test_a_stay_that_began_before_the_window_is_listed_with_its_true_start(
    world: ProviderWorld,
) -> None:
    world.show_stays()
    start, end = world.window
    async with world.provider.session(world.login) as session:
        page = await session.fetch_appointments(start, end)
    earlier = [a for a in page.appointments if a.start < start]
    assert earlier, "no appointment that began before the window was listed"
    for stay in earlier:
        assert stay.end > start
        assert stay.end - stay.start > timedelta(days=1)


async def test_a_known_consultation_is_returned(world: ProviderWorld) -> None:
    async with world.provider.session(world.login) as session:
        consultation = await session.fetch_consultation(world.consultation_id)
    assert consultation.id == world.consultation_id
    assert consultation.status


async def test_a_missing_consultation_is_not_found_not_empty(world: ProviderWorld) -> None:
    async with world.provider.session(world.login) as session:
        with pytest.raises(PimsNotFoundError):
            await session.fetch_consultation(world.missing_consultation_id)


async def test_wrong_credentials_raise_the_typed_auth_error(world: ProviderWorld) -> None:
    with pytest.raises(PimsAuthError) as caught:
        async with world.provider.session(world.bad_login):
            pass
    assert caught.value.code == "pims_auth_failed"
    assert "definitely-wrong" not in str(caught.value)


async def test_naive_or_reversed_windows_are_refused(world: ProviderWorld) -> None:
    start, end = world.window
    async with world.provider.session(world.login) as session:
        with pytest.raises(InvalidInputError):
            await session.fetch_appointments(start.replace(tzinfo=None), end)
        with pytest.raises(InvalidInputError):
            await session.fetch_appointments(end, start)


async def test_a_closed_session_cannot_be_used(world: ProviderWorld) -> None:
    async with world.provider.session(world.login) as session:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await session.fetch_consultation(world.consultation_id)
