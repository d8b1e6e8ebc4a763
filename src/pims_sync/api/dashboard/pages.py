"""The dashboard's pages and forms under `/dashboard` (docs/dashboard.md).

Signed-in state is the sealed cookie of `session.py`; every request re-authenticates the
key inside it with the API's own `authenticate` (a revoked key signs the browser out),
and every form is checked for its CSRF token before anything else (403 without it).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from pims_sync.adapters.sql.dashboard import SqlDashboardReads
from pims_sync.api.auth import authenticate
from pims_sync.api.dashboard.charts import DAYS, daily, hourly, scale_top
from pims_sync.api.dashboard.overview import overview_rows, visible_clinics
from pims_sync.api.dashboard.session import (
    CSRF_COOKIE,
    CSRF_FIELD,
    SESSION_COOKIE,
    Sealer,
    SignInLinks,
    new_browser_id,
)
from pims_sync.api.deps import get_services
from pims_sync.domain.api_keys import ApiKey
from pims_sync.domain.freshness import Freshness
from pims_sync.errors import AuthenticationError

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
PREFIX = "/dashboard"
SIGN_IN = f"{PREFIX}/sign-in"
CLINICS = f"{PREFIX}/clinics"
router = APIRouter(prefix=PREFIX, include_in_schema=False)


class SignInRequired(Exception):  # noqa: N818 - a redirect, not an error
    """No valid sign-in cookie: the browser goes to the sign-in page."""


class PageNotFound(Exception):  # noqa: N818 - answered as a 404 page
    """No such page for this key: another clinic's, an unknown one, a malformed id."""


class CsrfRefused(Exception):  # noqa: N818 - answered as a 403 page
    """A form without the CSRF token of this browser."""


def sealer_of(request: Request) -> Sealer | None:
    """The app's cookie sealer; None while DASHBOARD_SECRET is unset."""
    sealer: Sealer | None = request.app.state.dashboard_sealer
    return sealer


def browser_id(request: Request) -> str:
    """This browser's CSRF cookie value (a new one, set on the answer, if it has none)."""
    found = request.cookies.get(CSRF_COOKIE)
    if found:
        return found
    made: str = request.state.__dict__.setdefault("new_browser_id", new_browser_id())
    return made


def set_cookie(response: Response, request: Request, name: str, value: str, age: int) -> None:
    """An HttpOnly, SameSite=Strict cookie for /dashboard (Secure when served over HTTPS)."""
    secure = request.url.scheme == "https"
    response.set_cookie(
        name, value, max_age=age, path=PREFIX, httponly=True, samesite="strict", secure=secure
    )


def page(request: Request, name: str, code: int = 200, **context: Any) -> HTMLResponse:
    """A rendered template with the CSRF token; sets the CSRF cookie if it was new."""
    sealer = sealer_of(request)
    browser = browser_id(request)
    token = sealer.csrf_token(browser) if sealer is not None else ""
    answer = templates.TemplateResponse(
        request, name, {"csrf_field": CSRF_FIELD, "csrf_token": token, **context}, code
    )
    if CSRF_COOKIE not in request.cookies and sealer is not None:
        set_cookie(answer, request, CSRF_COOKIE, browser, sealer.lifetime)
    return answer


async def signed_in(request: Request) -> tuple[ApiKey, str]:
    """The signed-in key (and its secret, for the API calls made on its behalf)."""
    sealer = sealer_of(request)
    if sealer is None:
        raise SignInRequired
    presented = sealer.open(request.cookies.get(SESSION_COOKIE))
    if presented is None:
        raise SignInRequired
    services = get_services(request)
    try:
        key = await authenticate(services.api_keys, presented, datetime.now(UTC))
    except AuthenticationError:
        raise SignInRequired from None
    return key, presented


async def checked_form(request: Request) -> dict[str, str]:
    """The posted form, once its CSRF token matched this browser's cookie (else 403)."""
    sealer = sealer_of(request)
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if sealer is None or not sealer.csrf_ok(
        request.cookies.get(CSRF_COOKIE), fields.get(CSRF_FIELD)
    ):
        raise CsrfRefused
    return fields


def signed_in_answer(request: Request, sealer: Sealer, api_key: str) -> Response:
    """Redirect to the overview with the sign-in cookie set."""
    answer = RedirectResponse(CLINICS, status_code=303)
    set_cookie(answer, request, SESSION_COOKIE, sealer.seal(api_key), sealer.lifetime)
    return answer


@router.get("", response_class=HTMLResponse)
async def home() -> Response:
    """The overview (which sends a browser that is not signed in to sign in)."""
    return RedirectResponse(CLINICS, status_code=303)


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, token: str | None = None) -> Response:
    """The sign-in form; `?token=` redeems a one-time sign-in link instead."""
    sealer = sealer_of(request)
    if sealer is None:
        return page(request, "off.html", code=503)
    if token is not None:
        links: SignInLinks = request.app.state.dashboard_links
        api_key = links.redeem(token)
        if api_key is not None:
            return signed_in_answer(request, sealer, api_key)
        return page(request, "sign_in.html", 401, error="This sign-in link was used or expired.")
    return page(request, "sign_in.html")


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    """Check the pasted key with the API's own rules; on success set the sealed cookie."""
    fields = await checked_form(request)
    sealer = sealer_of(request)
    if sealer is None:  # checked_form refuses every form while the dashboard is off
        raise CsrfRefused
    api_key = fields.get("api_key", "").strip()
    try:
        await authenticate(get_services(request).api_keys, api_key, datetime.now(UTC))
    except AuthenticationError as error:
        return page(request, "sign_in.html", 401, error=error.message)
    return signed_in_answer(request, sealer, api_key)


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    """Forget the sign-in cookie."""
    await checked_form(request)
    answer = RedirectResponse(SIGN_IN, status_code=303)
    answer.delete_cookie(SESSION_COOKIE, path=PREFIX)
    return answer


def _reads(request: Request) -> SqlDashboardReads:
    return SqlDashboardReads(get_services(request).engine)


async def _overview(request: Request, status: str | None) -> dict[str, Any]:
    key, _ = await signed_in(request)
    rows = await overview_rows(get_services(request), _reads(request), key, datetime.now(UTC))
    counts = {s.value: sum(r.freshness.status is s for r in rows) for s in Freshness}
    shown = [r for r in rows if status in (None, "", r.freshness.status.value)]
    return {"rows": shown, "counts": counts, "status": status or "", "key": key, "total": len(rows)}


@router.get("/clinics", response_class=HTMLResponse)
async def clinics(request: Request, status: str | None = None) -> Response:
    """The clinics overview: every visible clinic's freshness, last and next run."""
    context = await _overview(request, status)
    return page(request, "clinics.html", statuses=[s.value for s in Freshness], **context)


@router.get("/clinics/table", response_class=HTMLResponse)
async def clinics_table(request: Request, status: str | None = None) -> Response:
    """The overview's table alone: what the page reloads every 15 s."""
    return page(request, "clinics_table.html", **await _overview(request, status))


@router.get("/charts", response_class=HTMLResponse)
async def charts(request: Request) -> Response:
    """Runs per hour and their p50/p95 durations (24 h), cases written per day (7 days)."""
    key, _ = await signed_in(request)
    services = get_services(request)
    now = datetime.now(UTC)
    ids = [c.id for c in await visible_clinics(services, key)]
    points = await _reads(request).run_points(ids, now - timedelta(days=DAYS))
    hours, days = hourly(points, now), daily(points, now)
    return page(
        request,
        "charts.html",
        key=key,
        clinics=len(ids),
        hours=hours,
        days=days,
        runs_top=scale_top([h.runs for h in hours]),
        seconds_top=scale_top([h.p95 for h in hours]),
        written_top=scale_top([d.written for d in days]),
    )
