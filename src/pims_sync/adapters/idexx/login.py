"""The IDEXX Neo login form, driven in a browser context; typed errors for every outcome.

Never logs the username, password, company id or cookies.
"""

from __future__ import annotations

import contextlib
import logging
import time
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Page
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from pims_sync.adapters.idexx import endpoints
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import (
    PimsAuthError,
    PimsLoginPageChangedError,
    PimsTwoFactorRequiredError,
    PimsUnavailableError,
)

log = logging.getLogger(__name__)

Cookie = dict[str, object]


async def log_in(
    context: BrowserContext, *, base_url: str, credentials: PimsCredentials, timeout: float
) -> tuple[list[Cookie], str]:
    """Log in through the form; return the context's cookies and the browser's user agent."""
    started = time.monotonic()
    page: Page | None = None
    try:
        await context.clear_cookies()  # a stale session must not short-circuit the form
        page = await context.new_page()
        page.set_default_timeout(timeout * 1000)
        await _open_form(page, base_url)
        await _fill_and_submit(page, credentials)
        await _check_outcome(page)
        if _origin(page.url) != _origin(base_url):
            raise PimsLoginPageChangedError(
                f"IDEXX Neo login ended on another site ({urlsplit(page.url).netloc})"
            )
        cookies = [dict(c) for c in await context.cookies()]
        if not any(endpoints.is_session_cookie(str(c.get("name", ""))) for c in cookies):
            raise PimsLoginPageChangedError(
                "IDEXX Neo login left the login page but set no session cookie"
            )
        user_agent = str(await page.evaluate("navigator.userAgent"))
    except PlaywrightTimeout as error:
        raise PimsUnavailableError("IDEXX Neo login page timed out", endpoint="login") from error
    except PlaywrightError as error:
        raise PimsUnavailableError(
            f"browser failed during IDEXX Neo login: {error.message.splitlines()[0]}",
            endpoint="login",
        ) from error
    finally:
        if page is not None:
            await _close_quietly(page)
    log.info("pims login ok", extra={"duration_ms": round((time.monotonic() - started) * 1000)})
    return cookies, user_agent


async def _open_form(page: Page, base_url: str) -> None:
    response = await page.goto(base_url + endpoints.LOGIN_PATH, wait_until="load")
    if response is not None and (response.status == 429 or response.status >= 500):
        raise PimsUnavailableError(
            f"IDEXX Neo login page: HTTP {response.status}",
            endpoint="login",
            status=response.status,
        )
    if await page.locator(endpoints.USERNAME_INPUT).count() == 0:
        if await _asks_second_factor(page):
            raise PimsTwoFactorRequiredError()
        raise PimsLoginPageChangedError(
            "IDEXX Neo login page has no username field; the login flow needs updating"
        )


async def _fill_and_submit(page: Page, credentials: PimsCredentials) -> None:
    if credentials.company_id:
        company = page.locator(endpoints.COMPANY_ID_INPUT)
        if await company.count() > 0:
            await company.first.fill(credentials.company_id)
    await page.locator(endpoints.USERNAME_INPUT).first.fill(credentials.username)
    await page.locator(endpoints.PASSWORD_INPUT).first.fill(credentials.password)
    submit = page.locator(endpoints.SUBMIT_BUTTON)
    if await submit.count() == 0:
        raise PimsLoginPageChangedError("IDEXX Neo login page has no submit button")
    try:
        async with page.expect_navigation(wait_until="load"):
            await submit.first.click()
    except PlaywrightTimeout:
        pass  # a script-driven form may show its error without navigating


async def _check_outcome(page: Page) -> None:
    on_login = endpoints.is_login_path(_path(page.url))
    if await _asks_second_factor(page):
        raise PimsTwoFactorRequiredError()
    if not on_login:
        return
    message = await _error_text(page)
    if message:
        raise PimsAuthError(message)
    raise PimsLoginPageChangedError(
        "IDEXX Neo stayed on the login page without an error message; the flow needs updating"
    )


async def _asks_second_factor(page: Page) -> bool:
    return await page.locator(endpoints.TWO_FACTOR_INPUT).count() > 0


async def _error_text(page: Page) -> str | None:
    errors = page.locator(endpoints.LOGIN_ERROR)
    for index in range(await errors.count()):
        text = (await errors.nth(index).inner_text()).strip()
        if text:
            return " ".join(text.split())[:300]
    return None


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def _path(url: str) -> str:
    return urlsplit(url).path


async def _close_quietly(page: Page) -> None:
    with contextlib.suppress(PlaywrightError):  # the browser may be gone; the pool relaunches
        await page.close()
