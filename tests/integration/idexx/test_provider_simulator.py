"""The IDEXX provider in real headless Chromium against the simulator."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.errors import (
    PimsAuthError,
    PimsLoginPageChangedError,
    PimsNotFoundError,
    PimsRetriesExhaustedError,
    PimsTwoFactorRequiredError,
)
from tests.integration.idexx.harness import SimulatorControl, clinic_login, today_window

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def test_login_then_calendar_and_consultation(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    consultation_id = sim.past_consultation_ids()[0]
    async with provider.session(clinic_login()) as session:
        page = await session.fetch_appointments(*today_window(sim.now()))
        consultation = await session.fetch_consultation(consultation_id)
    assert len(page) > 10
    assert all(a.start.utcoffset() is not None for a in page.appointments)
    assert consultation.id == consultation_id
    assert sim.logins() == 1


async def test_the_events_envelope_is_read_too(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(calendarEnvelope="events")
    async with provider.session(clinic_login()) as session:
        assert len(await session.fetch_appointments(*today_window(sim.now()))) > 10


async def test_wrong_password_is_a_typed_error_with_the_pims_message(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    with pytest.raises(PimsAuthError) as caught:
        async with provider.session(clinic_login(password="wrong-password")):
            pass
    assert caught.value.pims_message == "Invalid username or password"
    assert "wrong-password" not in str(caught.value)
    assert sim.logins() == 0


async def test_two_factor_is_reported_as_such(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(loginVariant="2fa")
    with pytest.raises(PimsTwoFactorRequiredError):
        async with provider.session(clinic_login()):
            pass


async def test_an_unknown_login_page_is_reported_as_such(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(loginVariant="changed")
    with pytest.raises(PimsLoginPageChangedError, match="no username field"):
        async with provider.session(clinic_login()):
            pass


async def test_login_works_without_a_company_field(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(loginVariant="no-company-field")
    async with provider.session(clinic_login()) as session:
        await session.fetch_appointments(*today_window(sim.now()))
    assert sim.logins() == 1


@pytest.mark.parametrize("expired_response", ["redirect", "401"])
async def test_session_expired_mid_run_logs_in_once_and_completes(
    provider: IdexxProvider, sim: SimulatorControl, expired_response: str
) -> None:
    sim.settings(sessionExpiredResponse=expired_response)
    ids = sim.past_consultation_ids()[:6]
    async with provider.session(clinic_login()) as session:
        await session.fetch_appointments(*today_window(sim.now()))
        sim.expire_sessions()
        consultations = [await session.fetch_consultation(i) for i in ids]
        page = await session.fetch_appointments(*today_window(sim.now()))
    assert [c.id for c in consultations] == ids
    assert len(page) > 0
    assert sim.logins() == 2
    assert session.logins == 2


async def test_html_instead_of_json_is_an_expired_session(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    async with provider.session(clinic_login()) as session:
        sim.fault(endpoint="calendar", html=True, count=1)
        page = await session.fetch_appointments(*today_window(sim.now()))
    assert len(page) > 0
    assert sim.logins() == 2


async def test_500s_and_429s_are_retried_then_succeed(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    consultation_id = sim.past_consultation_ids()[0]
    async with provider.session(clinic_login()) as session:
        sim.fault(endpoint="calendar", status=500, count=2)
        sim.fault(endpoint="page-data", status=429, retryAfter=1, count=1)
        page = await session.fetch_appointments(*today_window(sim.now()))
        consultation = await session.fetch_consultation(consultation_id)
    assert len(page) > 0
    assert consultation.id == consultation_id
    assert sim.requests("calendar") == 3
    assert sim.requests("page-data") == 2


async def test_persistent_500_is_a_clear_failure_not_an_empty_result(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    async with provider.session(clinic_login()) as session:
        sim.fault(endpoint="calendar", status=500)
        with pytest.raises(PimsRetriesExhaustedError, match=r"calendar .*4 attempts.*HTTP 500"):
            await session.fetch_appointments(*today_window(sim.now()))
    assert sim.requests("calendar") == 4


async def test_a_missing_consultation_is_not_found(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    async with provider.session(clinic_login()) as session:
        with pytest.raises(PimsNotFoundError):
            await session.fetch_consultation("1")


async def test_clinics_get_separate_contexts(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    other = clinic_login(clinic_id=uuid.uuid4())
    async with provider.session(clinic_login()), provider.session(other):
        assert provider.pool.open_contexts >= 2
    assert sim.logins() == 2


async def test_concurrent_calls_hitting_an_expiry_share_one_login(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    ids = sim.past_consultation_ids()[:10]
    async with provider.session(clinic_login()) as session:
        sim.expire_sessions()
        consultations = await asyncio.gather(*(session.fetch_consultation(i) for i in ids))
    assert [c.id for c in consultations] == ids
    assert sim.logins() == 2


async def test_a_failing_login_page_is_retried_then_reported(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.fault(endpoint="login", status=503, count=1)
    async with provider.session(clinic_login()):
        pass
    assert sim.logins() == 1
    sim.fault(endpoint="login", status=500)
    with pytest.raises(PimsRetriesExhaustedError, match=r"login .*4 attempts.*HTTP 500"):
        async with provider.session(clinic_login()):
            pass
