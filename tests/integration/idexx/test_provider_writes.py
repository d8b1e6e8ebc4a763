"""IDEXX writes against the simulator (real Chromium login, real HTTP): the CSRF token, no
retry of a write, and what each failure says of the write's fate."""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest

from pims_sync.domain.pims_writes import NewClient, NewPatient, PimsRef
from pims_sync.errors import (
    PimsSlotTakenError,
    PimsWriteNotSentError,
    PimsWriteOutcomeUnknownError,
    PimsWriteRefusedError,
)
from tests.contract.conftest import idexx_write_world
from tests.contract.test_provider_write_contract import WriteWorld
from tests.integration.idexx.harness import SimulatorControl

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]
__all__ = ["idexx_write_world"]


async def _count_at(world: WriteWorld, hour: int) -> int:
    start, _ = world.slot(hour)
    async with world.provider.session(world.login) as session:
        page = await session.fetch_appointments(start, start + timedelta(minutes=1))
    return sum(
        1
        for a in page.appointments
        if a.start == start and (a.status or "").casefold() != "cancelled"
    )


async def test_writes_send_the_pages_csrf_token_when_the_site_wants_one(
    idexx_write_world: WriteWorld, sim: SimulatorControl
) -> None:
    world = idexx_write_world
    sim.settings(writeCsrf=True)
    async with world.provider.session(world.login) as session:
        pages = sim.requests("home")  # the login's landing page is one
        await session.create_appointment(world.request(9))
        await session.create_appointment(world.request(10))
        assert session.writer.csrf_sent  # type: ignore[attr-defined]
        assert sim.requests("home") == pages + 1  # the token is looked for once per session
    assert await _count_at(world, 9) == 1
    assert await _count_at(world, 10) == 1


async def test_without_a_token_on_the_page_none_is_sent(
    idexx_write_world: WriteWorld, sim: SimulatorControl
) -> None:
    world = idexx_write_world
    async with world.provider.session(world.login) as session:
        pages = sim.requests("home")
        await session.create_appointment(world.request(9))
        await session.create_appointment(world.request(10))
        assert not session.writer.csrf_sent  # type: ignore[attr-defined]
        assert sim.requests("home") == pages + 1  # looked for once, none found, none sent
    assert await _count_at(world, 9) == 1


@pytest.mark.parametrize("status", [500, 502, 503, 504])
async def test_a_5xx_is_an_unknown_outcome_and_is_never_sent_again(
    idexx_write_world: WriteWorld, sim: SimulatorControl, status: int
) -> None:
    world = idexx_write_world
    sim.fault(endpoint="create", status=status, count=1)
    async with world.provider.session(world.login) as session:
        with pytest.raises(PimsWriteOutcomeUnknownError) as caught:
            await session.create_appointment(world.request(11))
    assert "read back" in str(caught.value)
    assert sim.requests("create") == 1  # reads are retried; a write never is


async def test_a_429_was_not_applied(idexx_write_world: WriteWorld, sim: SimulatorControl) -> None:
    world = idexx_write_world
    sim.fault(endpoint="create", status=429, retryAfter=1, count=1)
    async with world.provider.session(world.login) as session:
        with pytest.raises(PimsWriteNotSentError):
            await session.create_appointment(world.request(11))
        await session.create_appointment(world.request(11))  # sending again is safe
    assert sim.requests("create") == 2
    assert await _count_at(world, 11) == 1


@pytest.mark.parametrize("answer", ["redirect", "401"])
async def test_an_expired_session_refuses_the_write_and_is_renewed_for_the_next(
    idexx_write_world: WriteWorld, sim: SimulatorControl, answer: str
) -> None:
    world = idexx_write_world
    sim.settings(writeCsrf=True, sessionExpiredResponse=answer)
    async with world.provider.session(world.login) as session:
        await session.create_appointment(world.request(12))
        logins = sim.logins()
        sim.expire_sessions()
        with pytest.raises(PimsWriteNotSentError) as caught:
            await session.create_appointment(world.request(13))
        assert caught.value.session_refused
        assert sim.logins() == logins + 1  # logged in again, the write not resent
        await session.create_appointment(world.request(13))  # a fresh token, a live session
    assert sim.requests("create") == 3
    assert await _count_at(world, 13) == 1


async def test_a_dropped_answer_is_unknown_and_the_booking_is_there_once(
    idexx_write_world: WriteWorld, sim: SimulatorControl
) -> None:
    world = idexx_write_world
    world.lose_next_answer("create")
    async with world.provider.session(world.login) as session:
        with pytest.raises(PimsWriteOutcomeUnknownError):
            await session.create_appointment(world.request(14))
        # A blind second send would have been a double booking: the PIMS refuses the overlap.
        with pytest.raises(PimsSlotTakenError):
            await session.create_appointment(world.request(14))
    assert sim.requests("create") == 2
    assert await _count_at(world, 14) == 1


async def test_validation_refusals_carry_the_pims_words(
    idexx_write_world: WriteWorld, sim: SimulatorControl
) -> None:
    world = idexx_write_world
    async with world.provider.session(world.login) as session:
        with pytest.raises(PimsWriteRefusedError) as caught:
            await session.create_appointment(world.request(15, room_id="424242"))
    assert not isinstance(caught.value, PimsSlotTakenError)
    assert "Room not found" in caught.value.said
    assert caught.value.status == 400


async def test_writes_log_no_body_and_no_personal_data(
    idexx_write_world: WriteWorld, sim: SimulatorControl, caplog: pytest.LogCaptureFixture
) -> None:
    world = idexx_write_world
    caplog.set_level(logging.DEBUG)
    async with world.provider.session(world.login) as session:
        client = await session.create_client(
            NewClient("Zebedee", "Quimby", mobile_phone="408-555-0177", email="zq@example.com")
        )
        patient = await session.create_patient(
            NewPatient("Marmalade", species=PimsRef("4", "Canine")), client
        )
        await session.create_appointment(
            world.request(16, patient_id=patient.id, reason="Itchy ears")
        )
    logged = caplog.text
    for secret in ("Zebedee", "Quimby", "408-555-0177", "zq@example.com", "Marmalade", "Itchy"):
        assert secret not in logged
    assert "pims write answered" in logged


async def test_the_whole_booking_works_on_the_wild_site(
    idexx_write_world: WriteWorld, sim: SimulatorControl
) -> None:
    # Every trait at once: a CSRF token on writes, JSON labelled HTML, string ids, names in
    # title case, a slow login form and a redirect chain.
    world = idexx_write_world
    sim.settings(profile="wild")
    sim.clear_day(world.free_day.date().isoformat())  # the stays it shows, too
    async with world.provider.session(world.login) as session:
        matches = await session.search_patients(world.query, limit=5)
        assert world.patient_id in [m.patient_id for m in matches]
        view = await session.appointment_view()
        assert view.room(world.room_id) is not None
        await session.create_appointment(world.request(10))
        start, end = world.slot(10)
        page = await session.fetch_appointments(start, end)
        (booked,) = [a for a in page.appointments if a.start == start]
        details = await session.get_appointment(booked.appointment_id)
        assert (details.patient_id, details.room_id, details.cancelled) == (
            world.patient_id,
            world.room_id,
            False,
        )
        await session.cancel_appointment(booked.appointment_id, "Owner called")
        assert (await session.get_appointment(booked.appointment_id)).cancelled
        assert session.writer.csrf_sent  # type: ignore[attr-defined]
