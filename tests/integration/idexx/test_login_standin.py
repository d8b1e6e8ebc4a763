"""Login traits in real Chromium against hand-written pages (tests/integration/idexx/standin.py)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from pims_sync.adapters.idexx.config import USER_AGENT
from pims_sync.adapters.idexx.login import log_in
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.idexx.trace import CODE_INPUT_ON_LANDING, REDIRECT_CHAIN, LoginTrace
from pims_sync.adapters.memory.session_cache import InMemorySessionCache
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import PimsAuthError, PimsLoginPageChangedError, PimsTwoFactorRequiredError
from pims_sync.ports.provider import ClinicLogin
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.idexx.harness import idexx_options
from tests.integration.idexx.standin import (
    PASSWORD,
    USERNAME,
    StandIn,
    html,
    json_answer,
    login_form,
    page,
    signed_in,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

LA = ZoneInfo("America/Los_Angeles")
SHELL = "<div id='dashboard_shell'><h1>Oak Vet</h1></div>"
CALENDAR = "/appointments/getCalendarEventData"


@pytest.fixture(scope="module")
def running() -> Iterator[StandIn]:
    with StandIn() as stand_in:
        yield stand_in


@pytest.fixture
def site(running: StandIn) -> Iterator[StandIn]:
    running.reset()
    yield running
    running.reset()


def login_to(
    site: StandIn, *, password: str = PASSWORD, base_url: str | None = None
) -> ClinicLogin:
    credentials = PimsCredentials(
        username=USERNAME, password=password, base_url=base_url or site.base_url
    )
    return ClinicLogin(clinic_id=uuid.uuid4(), credentials=credentials, timezone=LA.key)


def one_day() -> tuple[datetime, datetime]:
    start = datetime(2026, 1, 22, tzinfo=LA)
    return start, start + timedelta(days=1)


async def test_an_otp_field_still_on_the_login_page_is_a_second_factor(
    provider: IdexxProvider, site: StandIn
) -> None:
    site.login_accepts()
    otp = "<form method='post' action='/login'><h1>Security check</h1><input name='otp'></form>"
    site.routes[("POST", "/login")] = html(otp)
    with pytest.raises(PimsTwoFactorRequiredError):
        async with provider.session(login_to(site)):
            pass


async def test_a_verify_heading_after_login_is_a_second_factor(
    provider: IdexxProvider, site: StandIn
) -> None:
    site.login_accepts(landing="/account/check")
    site.routes[("GET", "/account/check")] = html("<h1>Verify it's you</h1><input name='pin'>")
    with pytest.raises(PimsTwoFactorRequiredError):
        async with provider.session(login_to(site)):
            pass


async def test_barcode_and_zip_code_boxes_on_the_landing_page_are_a_login(
    provider: IdexxProvider, site: StandIn
) -> None:
    site.login_accepts(landing="/home")
    search = (
        "<form role='search'><input name='code' placeholder='Scan barcode or search'>"
        "<input name='zip' placeholder='Zip code' autocomplete='postal-code'></form>"
    )
    site.routes[("GET", "/home")] = html(search + SHELL)
    site.routes[("GET", CALENDAR)] = json_answer([])
    trace = LoginTrace()
    async with provider.session(login_to(site), trace=trace) as session:
        assert len(await session.fetch_appointments(*one_day())) == 0
    assert trace.landing_path == "/home"
    assert CODE_INPUT_ON_LANDING in trace.traits
    assert trace.cookie_names == ["neo_session"]


async def test_a_wrong_password_shows_the_login_page_error(
    provider: IdexxProvider, site: StandIn
) -> None:
    site.login_accepts()
    with pytest.raises(PimsAuthError) as caught:
        async with provider.session(login_to(site, password="not-the-password")):
            pass
    assert caught.value.pims_message == "Denied"
    assert "not-the-password" not in str(caught.value)


async def test_a_wrong_password_sent_back_to_the_login_page_without_a_word(
    provider: IdexxProvider, site: StandIn
) -> None:
    site.login_accepts()

    async def refuse(request: Request) -> Response:
        del request
        return Response(status_code=302, headers={"Location": "/login?failed=1"})

    site.routes[("POST", "/login")] = refuse
    with pytest.raises(PimsAuthError, match="did not accept the login"):
        async with provider.session(login_to(site)):
            pass
    assert [seen.path for seen in site.seen].count("/login") == 3  # form, post, form again


@pytest.mark.parametrize(
    "submit",
    [
        "<input type='submit' value='Log in'>",
        "<button type='button' onclick='this.form.submit()'>Sign in</button>",
        "<button>Log in</button>",
    ],
    ids=["input-submit", "sign-in-script-button", "untyped-button"],
)
async def test_the_page_posts_its_own_form_with_its_hidden_token(
    provider: IdexxProvider, site: StandIn, submit: str
) -> None:
    hidden = "<input type='hidden' name='_token' value='t-123'>"
    site.routes[("GET", "/login")] = html(login_form(hidden=hidden, submit=submit))

    async def submit_form(request: Request) -> Response:
        del request
        if site.forms[-1].get("_token") != "t-123":
            return HTMLResponse(page("<div class='alert-danger'>Page expired</div>"), 419)
        return signed_in("/schedule")

    site.routes[("POST", "/login")] = submit_form
    site.routes[("GET", "/schedule")] = html(SHELL)
    trace = LoginTrace()
    async with provider.session(login_to(site), trace=trace):
        pass
    assert site.forms[-1]["_token"] == "t-123"
    assert trace.hidden_fields == ["_token"]
    assert "t-123" not in repr(trace)  # names, never values


async def test_script_hops_after_the_login_are_followed_and_recorded_as_paths(
    provider: IdexxProvider, site: StandIn
) -> None:
    site.login_accepts(landing="/welcome?ticket=secret-ticket")
    site.routes[("GET", "/welcome")] = html(
        "<p>Signing you in…</p><script>location.replace('/start?ticket=secret-ticket')</script>"
    )
    site.routes[("GET", "/start")] = html(
        "<script>setTimeout(() => { location.href = '/schedule' }, 300)</script>"
    )
    site.routes[("GET", "/schedule")] = html(SHELL)
    trace = LoginTrace()
    async with provider.session(login_to(site), trace=trace):
        pass
    assert trace.redirects == ["/welcome", "/start", "/schedule"]
    assert REDIRECT_CHAIN in trace.traits
    assert "secret-ticket" not in repr(trace)
    assert [step.name for step in trace.steps] == ["open form", "form ready", "submit", "settle"]


async def test_a_login_page_on_another_origin_never_gets_the_password(
    provider: IdexxProvider, site: StandIn
) -> None:
    form = html(login_form())

    async def login_page(request: Request) -> Response:
        if request.url.hostname == "localhost":  # the clinic's base URL: sent elsewhere
            return Response(status_code=302, headers={"Location": f"{site.base_url}/login"})
        return await form(request)

    site.routes[("GET", "/login")] = login_page
    clinic_base = f"http://localhost:{site.port}"
    with pytest.raises(PimsLoginPageChangedError, match=r"another site \(127\.0\.0\.1\)$"):
        async with provider.session(login_to(site, base_url=clinic_base)):
            pass
    assert site.forms == []  # nothing was typed or posted


async def test_one_user_agent_for_browser_and_data_calls_fresh_and_cached(
    simulator: BackgroundSimulator, site: StandIn
) -> None:
    site.login_accepts()
    site.routes[("GET", "/schedule")] = html(SHELL)
    site.routes[("GET", CALENDAR)] = json_answer([])
    cached = IdexxProvider(idexx_options(simulator.base_url), session_cache=InMemorySessionCache())
    login = login_to(site)
    try:
        for _ in range(2):
            async with cached.session(login) as session:
                await session.fetch_appointments(*one_day())
    finally:
        await cached.aclose()
    assert session.from_cache  # the second session needed no login
    assert len(site.forms) == 1
    assert {seen.user_agent for seen in site.seen} == {USER_AGENT}
    data = [seen for seen in site.seen if seen.path == CALENDAR]
    assert len(data) == 2
    assert all(seen.accept == "application/json" and seen.xhr == "XMLHttpRequest" for seen in data)


async def test_a_form_that_never_comes_is_a_changed_login_page(
    provider: IdexxProvider, site: StandIn
) -> None:
    site.routes[("GET", "/login")] = html("<div id='root'>Loading…</div>")
    login = login_to(site)
    async with provider.pool.context("never-drawn", site.base_url) as context:
        with pytest.raises(PimsLoginPageChangedError, match="no username field"):
            await log_in(
                context,
                base_url=site.base_url,
                credentials=login.credentials,
                timeout=10,
                form_wait=1,
            )
    assert site.forms == []
