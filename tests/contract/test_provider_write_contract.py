"""The booking calls of every PimsWriteProvider: the in-memory fake and IDEXX + simulator.

Each world gives a searchable patient, a day with nothing booked in one column, a way to
put a live appointment in the PIMS behind the port's back, and the "applied, then the
answer was lost" fault. Bookings are found the way the service must find them: by
reading the calendar of the slot before and after (a create answers with no id).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.domain.appointments import Appointment, Client, Patient
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.pims_writes import AppointmentRequest, NewClient, NewPatient, PimsRef
from pims_sync.errors import (
    InvalidInputError,
    PimsNotFoundError,
    PimsSlotTakenError,
    PimsWriteOutcomeUnknownError,
    PimsWriteRefusedError,
)
from pims_sync.ports.provider import ClinicLogin, PimsWriteProvider, PimsWriteSession

pytestmark = pytest.mark.asyncio(loop_scope="session")
LA = ZoneInfo("America/Los_Angeles")


@dataclass
class WriteWorld:
    """A write provider plus what the contract needs to know about its PIMS."""

    provider: PimsWriteProvider
    login: ClinicLogin
    query: str  # finds `patient_id`
    patient_id: str
    room_id: str  # a column of the view
    free_day: datetime  # clinic midnight of a day with nothing booked
    # Puts a live appointment for `patient_id` in the PIMS (not through the port).
    occupy: Callable[[datetime, datetime, str], None]
    # The next create (or cancel) is applied, then its answer lost.
    lose_next_answer: Callable[[str], None]

    def slot(self, hour: int, minutes: int = 30) -> tuple[datetime, datetime]:
        start = self.free_day.replace(hour=hour)
        return start, start + timedelta(minutes=minutes)

    def request(self, hour: int, **changes: Any) -> AppointmentRequest:
        start, end = self.slot(hour)
        fields: dict[str, Any] = {
            "patient_id": self.patient_id,
            "start": start,
            "end": end,
            "room_id": self.room_id,
            "reason": "Vaccines",
        }
        return AppointmentRequest(**(fields | changes))


def fake_write_world() -> WriteWorld:
    """A FakeProvider with PENNY (owner LOPEZ) and a visit on 2026-01-22 in column 7."""
    day = datetime(2026, 1, 22, 9, 0, tzinfo=LA)
    seeded = Appointment(
        appointment_id="351412",
        start=day,
        end=day + timedelta(minutes=30),
        status="Scheduled",
        patient=Patient(id="41873", name="PENNY"),
        client=Client(id="17342", first_name="MARIA", last_name="LOPEZ", phone="408-555-0142"),
        room_id="7",
    )
    provider = FakeProvider(appointments=[seeded])
    login = ClinicLogin(
        clinic_id=uuid.uuid4(),
        credentials=PimsCredentials(username="vet@example.com", password="p"),
        timezone="America/Los_Angeles",
    )

    def occupy(start: datetime, end: datetime, room: str) -> None:
        appointment_id = str(800_000 + len(provider.appointments))
        provider.appointments[appointment_id] = Appointment(
            appointment_id, start, end, patient=seeded.patient, client=seeded.client, room_id=room
        )

    return WriteWorld(
        provider=provider,
        login=login,
        query="penny lopez",
        patient_id="41873",
        room_id="7",
        free_day=datetime(2026, 1, 23, tzinfo=LA),
        occupy=occupy,
        lose_next_answer=provider.lose_next_answer,
    )


@pytest.fixture(params=["fake", pytest.param("idexx", marks=pytest.mark.browser)])
def world(request: pytest.FixtureRequest) -> WriteWorld:
    if request.param == "fake":
        return fake_write_world()
    world: Any = request.getfixturevalue("idexx_write_world")
    assert isinstance(world, WriteWorld)
    return world


async def _booked(session: PimsWriteSession, world: WriteWorld) -> dict[str, Appointment]:
    """The free day's appointments that are not cancelled, by id."""
    page = await session.fetch_appointments(world.free_day, world.free_day + timedelta(days=1))
    return {
        a.appointment_id: a
        for a in page.appointments
        if (a.status or "").casefold() not in ("cancelled", "canceled")
    }


async def _create_and_find(session: PimsWriteSession, world: WriteWorld, hour: int) -> str:
    before = await _booked(session, world)
    await session.create_appointment(world.request(hour))  # answers no id, as IDEXX
    new = set(await _booked(session, world)) - set(before)
    assert len(new) == 1
    return new.pop()


async def test_a_search_finds_the_patient_and_its_owner(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        matches = await session.search_patients(world.query, limit=5)
        assert 1 <= len(matches) <= 5
        match = next(m for m in matches if m.patient_id == world.patient_id)
        assert match.patient.name
        assert match.client is not None
        assert match.client.id
        assert match.client.full_name
        # Reprs carry ids only: no names reach a log line through them.
        assert str(match.client.last_name) not in repr(match.client)
        assert match.patient.name not in repr(match)
        assert await session.search_patients("zzqqxx-nobody", limit=5) == []
        with pytest.raises(InvalidInputError):
            await session.search_patients("   ", limit=5)
        with pytest.raises(InvalidInputError):
            await session.search_patients(world.query, limit=0)


async def test_the_view_lists_types_rooms_and_providers(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        view = await session.appointment_view()
    assert view.types
    assert view.providers
    assert view.room(world.room_id) is not None
    assert all(kind.id and kind.name for kind in view.types)


async def test_a_create_answers_no_id_and_the_calendar_shows_it(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        appointment_id = await _create_and_find(session, world, 10)
        shown = (await _booked(session, world))[appointment_id]
        details = await session.get_appointment(appointment_id)
    start, end = world.slot(10)
    assert (shown.start, shown.end, shown.patient.id) == (start, end, world.patient_id)
    assert (details.start, details.end) == (start, end)
    assert details.start.utcoffset() is not None
    assert (details.patient_id, details.room_id, details.cancelled) == (
        world.patient_id,
        world.room_id,
        False,
    )


async def test_an_overlapping_booking_is_refused_and_changes_nothing(world: WriteWorld) -> None:
    start, end = world.slot(11)
    world.occupy(start, end, world.room_id)
    async with world.provider.session(world.login) as session:
        before = await _booked(session, world)
        with pytest.raises(PimsSlotTakenError) as caught:
            await session.create_appointment(world.request(11, start=start + timedelta(minutes=15)))
        assert caught.value.code == "pims_slot_taken"
        assert await _booked(session, world) == before
        # Touching the end of the taken slot is no overlap.
        later = world.request(11, start=end, end=end + timedelta(minutes=15))
        await session.create_appointment(later)
        assert len(await _booked(session, world)) == len(before) + 1


async def test_a_booking_for_an_unknown_patient_is_refused(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        before = await _booked(session, world)
        with pytest.raises(PimsWriteRefusedError) as caught:
            await session.create_appointment(world.request(12, patient_id="99999999"))
        assert not isinstance(caught.value, PimsSlotTakenError)
        assert caught.value.said
        assert await _booked(session, world) == before


async def test_a_cancel_keeps_the_record_and_frees_the_slot(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        appointment_id = await _create_and_find(session, world, 13)
        await session.cancel_appointment(appointment_id, "Owner called", action="cancel")
        details = await session.get_appointment(appointment_id)
        assert details.cancelled
        assert appointment_id not in await _booked(session, world)
        await _create_and_find(session, world, 13)  # the cancelled one no longer holds it


async def test_a_delete_removes_the_appointment(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        appointment_id = await _create_and_find(session, world, 14)
        await session.cancel_appointment(appointment_id, "Booked in error", action="delete")
        with pytest.raises(PimsNotFoundError):
            await session.get_appointment(appointment_id)
        with pytest.raises(PimsNotFoundError):
            await session.cancel_appointment(appointment_id, "again")


async def test_unknown_appointments_are_not_found(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        with pytest.raises(PimsNotFoundError):
            await session.get_appointment("1")
        with pytest.raises(PimsNotFoundError):
            await session.cancel_appointment("1", "no such")


async def test_a_lost_answer_is_unknown_yet_the_booking_exists_once(world: WriteWorld) -> None:
    world.lose_next_answer("create")
    async with world.provider.session(world.login) as session:
        before = await _booked(session, world)
        with pytest.raises(PimsWriteOutcomeUnknownError):
            await session.create_appointment(world.request(15))
        new = set(await _booked(session, world)) - set(before)
    assert len(new) == 1  # applied although no answer came: only a read-back can tell


async def test_a_new_client_and_patient_can_be_booked(world: WriteWorld) -> None:
    async with world.provider.session(world.login) as session:
        client = await session.create_client(
            NewClient(first_name="Robin", last_name="Quayle", mobile_phone="408-555-0100")
        )
        patient = await session.create_patient(
            NewPatient(name="Biscuit", species=PimsRef("4", "Canine")), client
        )
        assert client.id
        assert patient.id
        assert patient.id != client.id
        matches = await session.search_patients("biscuit quayle", limit=5)
        assert [m.patient_id for m in matches] == [patient.id]
        assert matches[0].client is not None
        assert matches[0].client.id == client.id
        before = await _booked(session, world)
        await session.create_appointment(world.request(16, patient_id=patient.id))
        new = set(await _booked(session, world)) - set(before)
        assert len(new) == 1


async def test_bad_requests_are_refused_before_anything_is_sent(world: WriteWorld) -> None:
    start, _ = world.slot(23)
    with pytest.raises(InvalidInputError):
        AppointmentRequest(world.patient_id, start.replace(tzinfo=None), start)
    with pytest.raises(InvalidInputError):
        AppointmentRequest(world.patient_id, start, start)
    async with world.provider.session(world.login) as session:
        before = await _booked(session, world)
        across_midnight = world.request(23, end=start + timedelta(hours=2))
        with pytest.raises(InvalidInputError):
            await session.create_appointment(across_midnight)
        with pytest.raises(InvalidInputError):
            await session.cancel_appointment("351412", "x", action="erase")  # type: ignore[arg-type]
        assert await _booked(session, world) == before
