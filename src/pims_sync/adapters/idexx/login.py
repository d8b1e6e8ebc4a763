"""The IDEXX Neo login form, driven in a browser context as a person would; typed errors.

Open the page and let it settle, wait for a form drawn late, type only on the PIMS's own
origin, submit through the page, follow the redirect chain until it settles, then judge
by the landing path and the cookies (see docs/provider.md, "Login"). The context comes
from `BrowserPool`, whose guard blocks page loads of other origins; a login whose page
tried one fails (`PimsLoginPageChangedError`, naming the host). A Chromium that dies during
the login is `BrowserCrashedError`.
Never logs or records the username, password, company id or a cookie's value.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Frame, Locator, Page, Request
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from pims_sync.adapters.idexx import endpoints
from pims_sync.adapters.idexx.browser_errors import browser_gone, first_line
from pims_sync.adapters.idexx.guard import BLOCKED_FAILURE, Origin
from pims_sync.adapters.idexx.trace import (
    CODE_INPUT_ON_LANDING,
    FORM_DRAWN_LATE,
    HIDDEN_FORM_FIELDS,
    NETWORK_NEVER_IDLE,
    REDIRECT_CHAIN,
    LoginTrace,
)
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import (
    BrowserCrashedError,
    PimsAuthError,
    PimsLoginPageChangedError,
    PimsTwoFactorRequiredError,
    PimsUnavailableError,
)

log = logging.getLogger(__name__)

Cookie = dict[str, object]

FORM_WAIT_SECONDS = 15.0  # how long a form drawn by script is waited for (as the original did)
NETWORK_IDLE_SECONDS = 10.0  # a page that keeps polling never idles: go on after this
URL_STABLE_SECONDS = 0.5  # no page load for this long after submit: the redirects are over
POLL_SECONDS = 0.05
MAX_RECORDED = 20  # paths of the redirect chain and hidden field names kept in the trace
ERROR_TEXT_CHARS = 300
NO_FIELD = "IDEXX Neo login page has no username field; the login flow needs updating"
OFF_ORIGIN_FORM = "IDEXX Neo login page is on another site"
LEFT_SITE = "IDEXX Neo login page tried to open another site, which was blocked"
NOT_ACCEPTED = "IDEXX Neo did not accept the login (back on the login page, no message shown)"


async def log_in(
    context: BrowserContext,
    *,
    base_url: str,
    credentials: PimsCredentials,
    timeout: float,
    form_wait: float = FORM_WAIT_SECONDS,
    trace: LoginTrace | None = None,
) -> list[Cookie]:
    """Log in through the page's own form; return the context's cookies."""
    trace = trace if trace is not None else LoginTrace()
    trace.reset()  # a retried login records its last attempt only
    started = time.monotonic()
    page: Page | None = None
    try:
        await context.clear_cookies()  # a stale session must not short-circuit the form
        page = await context.new_page()
        page.set_default_timeout(timeout * 1000)
        loads = _PageLoads(page)
        lap = _Laps(trace)
        await _open_form(page, base_url, min(timeout, NETWORK_IDLE_SECONDS), trace)
        lap("open form")
        _require_origin(page.url, base_url, OFF_ORIGIN_FORM, loads)
        username = await _wait_for_form(page, min(timeout, form_wait), trace)
        lap("form ready")
        _require_origin(page.url, base_url, OFF_ORIGIN_FORM, loads)  # a script may have moved it
        await _fill_and_submit(page, username, credentials, trace, loads)
        lap("submit")
        await _settle(page, loads, deadline=time.monotonic() + timeout)
        lap("settle")
        cookies = await _outcome(page, context, base_url, trace, loads)
    except PlaywrightError as error:  # a timeout included
        raise _browser_failure(context, error) from error
    finally:
        if page is not None:
            await _close_quietly(page)
    log.info("pims login ok", extra={"duration_ms": round((time.monotonic() - started) * 1000)})
    return cookies


def _browser_failure(context: BrowserContext, error: PlaywrightError) -> PimsUnavailableError:
    """A retriable error for a failure of the page or of Chromium itself."""
    if browser_gone(context, error):  # Chromium died: the pool relaunches it for the retry
        return BrowserCrashedError(first_line(error))
    if isinstance(error, PlaywrightTimeout):
        return PimsUnavailableError("IDEXX Neo login page timed out", endpoint="login")
    return PimsUnavailableError(
        f"browser failed during IDEXX Neo login: {first_line(error)}", endpoint="login"
    )


async def _open_form(page: Page, base_url: str, idle_seconds: float, trace: LoginTrace) -> None:
    response = await page.goto(base_url + endpoints.LOGIN_PATH, wait_until="domcontentloaded")
    if response is not None and (response.status == 429 or response.status >= 500):
        raise PimsUnavailableError(
            f"IDEXX Neo login page: HTTP {response.status}",
            endpoint="login",
            status=response.status,
        )
    if not await _network_idle(page, idle_seconds):
        trace.traits.add(NETWORK_NEVER_IDLE)


async def _wait_for_form(page: Page, form_wait: float, trace: LoginTrace) -> Locator:
    """The visible username field, waited for when a script draws the form late."""
    username = page.locator(endpoints.USERNAME_INPUT).filter(visible=True).first
    if await username.count() > 0:
        return username
    if await _asks_second_factor(page):
        raise PimsTwoFactorRequiredError()
    other_form = await page.locator(endpoints.OTHER_FORM).filter(visible=True).count() > 0
    # Asked again: a script may have drawn our form between the two looks.
    if other_form and await username.count() == 0:
        raise PimsLoginPageChangedError(NO_FIELD)  # a form is drawn, and it is not ours
    try:
        await username.wait_for(state="visible", timeout=form_wait * 1000)
    except PlaywrightTimeout:
        if await _asks_second_factor(page):
            raise PimsTwoFactorRequiredError() from None
        raise PimsLoginPageChangedError(NO_FIELD) from None
    trace.traits.add(FORM_DRAWN_LATE)
    return username


async def _fill_and_submit(
    page: Page,
    username: Locator,
    credentials: PimsCredentials,
    trace: LoginTrace,
    loads: _PageLoads,
) -> None:
    await _note_hidden_fields(page, trace)
    password = page.locator(endpoints.PASSWORD_INPUT).filter(visible=True).first
    if await password.count() == 0:
        raise PimsLoginPageChangedError("IDEXX Neo login page has no password field")
    submit = await _submit_button(page)
    if submit is None:
        raise PimsLoginPageChangedError("IDEXX Neo login page has no submit button")
    if credentials.company_id:
        company = page.locator(endpoints.COMPANY_ID_INPUT)
        if await company.count() > 0:
            await company.first.fill(credentials.company_id)
    await username.fill(credentials.username)
    await password.fill(credentials.password)
    loads.record()
    await submit.click()  # the page posts its own form: hidden fields go along


async def _submit_button(page: Page) -> Locator | None:
    for selector in endpoints.SUBMIT_BUTTONS:
        button = page.locator(selector).filter(visible=True).first
        if await button.count() > 0:
            return button
    return None


async def _note_hidden_fields(page: Page, trace: LoginTrace) -> None:
    names = await page.locator(endpoints.HIDDEN_FORM_INPUT).evaluate_all(
        "inputs => inputs.map(input => input.name)"
    )
    trace.hidden_fields = [str(name)[:64] for name in names][:MAX_RECORDED]
    if trace.hidden_fields:
        trace.traits.add(HIDDEN_FORM_FIELDS)


async def _settle(page: Page, loads: _PageLoads, *, deadline: float) -> None:
    """Wait until no page load is under way, the URL held still, and the network idled."""
    while time.monotonic() < deadline:
        if loads.busy or loads.quiet_for() < URL_STABLE_SECONDS:
            await asyncio.sleep(POLL_SECONDS)
            continue
        mark = loads.changed_at
        await _network_idle(page, min(NETWORK_IDLE_SECONDS, max(0.0, deadline - time.monotonic())))
        if loads.changed_at == mark and not loads.busy:
            return
    if loads.busy:
        raise PimsUnavailableError("IDEXX Neo login did not finish loading", endpoint="login")


async def _outcome(
    page: Page, context: BrowserContext, base_url: str, trace: LoginTrace, loads: _PageLoads
) -> list[Cookie]:
    _require_origin(page.url, base_url, "IDEXX Neo login ended on another site", loads)
    path = urlsplit(page.url).path or "/"
    trace.landing_path = path
    trace.redirects = loads.chain(path)
    if len(trace.redirects) >= 2:
        trace.traits.add(REDIRECT_CHAIN)
    if await _asks_second_factor(page):
        raise PimsTwoFactorRequiredError()
    if endpoints.is_login_path(path):
        raise PimsAuthError(await _error_text(page) or NOT_ACCEPTED)
    cookies = [dict(c) for c in await context.cookies()]
    names = [str(c.get("name", "")) for c in cookies]
    trace.cookie_names = sorted(set(names))
    if not any(endpoints.is_session_cookie(name) for name in names):
        raise PimsLoginPageChangedError(
            "IDEXX Neo login left the login page but set no session cookie"
        )
    if await _visible(page, endpoints.CODE_INPUT):
        trace.traits.add(CODE_INPUT_ON_LANDING)  # a search or barcode box: not a second factor
    return cookies


async def _asks_second_factor(page: Page) -> bool:
    """Real signals only: a code input while still on a login path, or words in URL/heading."""
    path = urlsplit(page.url).path
    if endpoints.says_two_factor(path):
        return True
    if endpoints.is_login_path(path) and await _visible(page, endpoints.CODE_INPUT):
        return True
    headings = await page.locator(endpoints.MAIN_HEADING).all_inner_texts()
    return any(endpoints.says_two_factor(heading) for heading in headings)


async def _visible(page: Page, selector: str) -> bool:
    return await page.locator(selector).filter(visible=True).count() > 0


async def _error_text(page: Page) -> str | None:
    errors = page.locator(endpoints.LOGIN_ERROR)
    for text in await errors.all_inner_texts():
        collapsed = " ".join(text.split())
        if collapsed:
            return collapsed[:ERROR_TEXT_CHARS]
    return None


async def _network_idle(page: Page, seconds: float) -> bool:
    """Wait for network idle; False when it did not come in time (not an error)."""
    try:
        await page.wait_for_load_state("networkidle", timeout=seconds * 1000)
    except PlaywrightTimeout:
        return False
    return True


def _require_origin(url: str, base_url: str, message: str, loads: _PageLoads) -> None:
    """Never type the password on, or accept a login from, another site; name the host only."""
    if loads.blocked_host is not None:  # the page is an error page now, or about to be
        raise PimsLoginPageChangedError(f"{LEFT_SITE} ({loads.blocked_host})")
    if Origin.of(url) != Origin.of(base_url):
        raise PimsLoginPageChangedError(f"{message} ({urlsplit(url).hostname or 'no host'})")


async def _close_quietly(page: Page) -> None:
    with contextlib.suppress(PlaywrightError):  # the browser may be gone; the pool relaunches
        await page.close()


class _Laps:
    """Records each step's duration in the trace."""

    def __init__(self, trace: LoginTrace) -> None:
        self._trace = trace
        self._last = time.monotonic()

    def __call__(self, name: str) -> None:
        now = time.monotonic()
        self._trace.step(name, (now - self._last) * 1000)
        self._last = now


class _PageLoads:
    """The page's main-frame document loads: which are under way, and the paths after submit."""

    def __init__(self, page: Page) -> None:
        self._page = page
        self._under_way: set[Request] = set()
        self._paths: list[str] | None = None  # recorded from the submit on
        self.changed_at = time.monotonic()
        self.blocked_host: str | None = None  # a page load of another site the guard blocked
        page.on("request", self._started)
        page.on("requestfinished", self._ended)
        page.on("requestfailed", self._failed)
        page.on("framenavigated", self._navigated)

    @property
    def busy(self) -> bool:
        """Whether a document request (a redirect hop included) awaits its answer."""
        return bool(self._under_way)

    def quiet_for(self) -> float:
        """Seconds since a page load started, ended or changed the URL."""
        return time.monotonic() - self.changed_at

    def record(self) -> None:
        """Record the paths of the page loads from now on (the redirect chain)."""
        self._paths = []
        self.changed_at = time.monotonic()

    def chain(self, landing_path: str) -> list[str]:
        """The paths loaded since `record`, ending with the landing path (no queries)."""
        paths = list(self._paths or [])
        if not paths or paths[-1] != landing_path:
            paths.append(landing_path)  # a script changed the URL without a load
        return paths[-MAX_RECORDED:]

    def _started(self, request: Request) -> None:
        if not self._is_document(request):
            return
        self._under_way.add(request)
        self.changed_at = time.monotonic()
        # The form's own POST is not a hop; each GET after it is (HTTP or script redirects).
        if self._paths is not None and request.method == "GET":
            self._paths.append(urlsplit(request.url).path or "/")

    def _ended(self, request: Request) -> None:
        if request in self._under_way:
            self._under_way.discard(request)
            self.changed_at = time.monotonic()

    def _failed(self, request: Request) -> None:
        if request.failure == BLOCKED_FAILURE and self._is_document(request):
            self.blocked_host = self.blocked_host or urlsplit(request.url).hostname or "no host"
        self._ended(request)

    def _navigated(self, frame: Frame) -> None:
        if frame is self._page.main_frame:
            self.changed_at = time.monotonic()

    def _is_document(self, request: Request) -> bool:
        if not request.is_navigation_request():
            return False
        try:
            return request.frame is self._page.main_frame
        except PlaywrightError:  # a service worker's request has no frame
            return False
