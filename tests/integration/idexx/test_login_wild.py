"""The login and transport traits of the real site, one at a time, against the simulator."""

from __future__ import annotations

import pytest

from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.idexx.trace import (
    CODE_INPUT_ON_LANDING,
    FORM_DRAWN_LATE,
    HIDDEN_FORM_FIELDS,
    REDIRECT_CHAIN,
    LoginTrace,
)
from pims_sync.errors import PimsNotReadyError, PimsRetriesExhaustedError
from tests.integration.idexx.harness import SimulatorControl, clinic_login, today_window

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]


async def log_in(provider: IdexxProvider, sim: SimulatorControl) -> LoginTrace:
    """One session that reads today's calendar; its login trace."""
    trace = LoginTrace()
    async with provider.session(clinic_login(), trace=trace) as session:
        assert len(await session.fetch_appointments(*today_window(sim.now()))) > 0
    assert sim.logins() == 1
    return trace


async def test_a_form_drawn_by_script_after_3_s_is_waited_for(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(loginFormDelayMs=3000)
    trace = await log_in(provider, sim)
    assert FORM_DRAWN_LATE in trace.traits
    assert trace.steps[1].name == "form ready"


async def test_a_required_csrf_field_goes_along_with_the_form(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(loginCsrf=True)
    trace = await log_in(provider, sim)
    assert trace.hidden_fields == ["_csrf"]
    assert HIDDEN_FORM_FIELDS in trace.traits


async def test_a_3_hop_redirect_chain_after_login_is_followed(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(loginRedirectHops=3)
    trace = await log_in(provider, sim)
    assert trace.redirects == ["/auth/callback", "/auth/callback", "/sso/continue", "/schedule"]
    assert trace.landing_path == "/schedule"
    assert REDIRECT_CHAIN in trace.traits


async def test_a_barcode_search_box_on_the_landing_page_is_not_a_second_factor(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(landingSearchBox=True)
    trace = await log_in(provider, sim)
    assert trace.landing_path == "/home"
    assert CODE_INPUT_ON_LANDING in trace.traits
    assert "neo_session" in trace.cookie_names


async def test_every_login_trait_at_once(provider: IdexxProvider, sim: SimulatorControl) -> None:
    sim.settings(loginFormDelayMs=1500, loginCsrf=True, loginRedirectHops=3, landingSearchBox=True)
    trace = await log_in(provider, sim)
    wanted = {FORM_DRAWN_LATE, HIDDEN_FORM_FIELDS, REDIRECT_CHAIN, CODE_INPUT_ON_LANDING}
    assert wanted <= trace.traits


async def test_json_served_as_text_html_is_data(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(jsonAsHtml=True)
    consultation_id = sim.past_consultation_ids()[0]
    async with provider.session(clinic_login()) as session:
        page = await session.fetch_appointments(*today_window(sim.now()))
        consultation = await session.fetch_consultation(consultation_id)
    assert len(page) > 10
    assert consultation.id == consultation_id
    assert sim.logins() == 1  # not once taken for an expired session


async def test_a_login_page_among_json_labelled_html_is_still_an_expired_session(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    sim.settings(jsonAsHtml=True)
    async with provider.session(clinic_login()) as session:
        sim.fault(endpoint="calendar", html=True, count=1)
        page = await session.fetch_appointments(*today_window(sim.now()))
    assert len(page) > 0
    assert sim.logins() == 2  # one re-login, then the data


async def test_a_calendar_refusal_is_retried_then_fails_clearly(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    async with provider.session(clinic_login()) as session:
        sim.fault(endpoint="calendar", refusal=True)
        with pytest.raises(
            PimsRetriesExhaustedError,
            match=r"^IDEXX Neo calendar refused the request \(success: false\) on all 4 attempts",
        ):
            await session.fetch_appointments(*today_window(sim.now()))
    assert sim.requests("calendar") == 4


async def test_a_page_data_refusal_means_not_ready_without_a_retry(
    provider: IdexxProvider, sim: SimulatorControl
) -> None:
    consultation_id = sim.past_consultation_ids()[0]
    async with provider.session(clinic_login()) as session:
        sim.fault(endpoint="page-data", refusal=True, count=1)
        with pytest.raises(PimsNotReadyError):
            await session.fetch_consultation(consultation_id)
        assert sim.requests("page-data") == 1
        assert (await session.fetch_consultation(consultation_id)).id == consultation_id
