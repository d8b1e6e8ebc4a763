"""One running simulator: its world, clock, sessions, faults, settings and statistics."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from pims_sync.simulator import pages
from pims_sync.simulator.config import RuntimeSettings, SimulatorConfig
from pims_sync.simulator.corruption import Corruptions
from pims_sync.simulator.dataset import Clinic
from pims_sync.simulator.faults import FaultBook, Strike
from pims_sync.simulator.state import (
    SESSION_COOKIE,
    CsrfTokens,
    Session,
    Sessions,
    SimClock,
    Stats,
)
from pims_sync.simulator.world import World

RENDER_CACHE_SIZE = 4096
Handler = Callable[[Request, Session], Awaitable[Response]]
PublicHandler = Callable[[Request], Awaitable[Response]]


class Simulation:
    """Everything the IDEXX routes and the control API share."""

    def __init__(self, config: SimulatorConfig) -> None:
        self.config = config
        self.clock = SimClock(config.timezone)
        self.sessions = Sessions()
        self.csrf = CsrfTokens()  # like sessions, issued forms stay valid across a reset
        self._fresh()

    def _fresh(self) -> None:
        self.world = World(self.config)
        self.settings = RuntimeSettings.from_config(self.config)
        self.faults = FaultBook(self.config.seed)
        self.corruptions = Corruptions()
        self.stats = Stats()
        self._rendered: dict[tuple[Any, ...], bytes] = {}
        self.credentials = {
            clinic.company_id: (self.config.username, self.config.password)
            for clinic in self.world.clinics
        }

    def reset(self) -> None:
        """Back to the generated world: changes, faults, settings, stats and clock.

        Sessions survive, so a test can reset between cases without logging in again.
        """
        self._fresh()
        self.clock.real()

    def rendered_json(self, key: tuple[Any, ...], build: Callable[[], Any]) -> Response:
        """A JSON answer, cached until the world, the clock or the settings change."""
        full_key = (*key, self.world.version, self.clock.now(), self.settings.as_tuple())
        body = self._rendered.get(full_key)
        if body is None:
            if len(self._rendered) >= RENDER_CACHE_SIZE:
                self._rendered.clear()
            body = bytes(JSONResponse(build()).body)
            self._rendered[full_key] = body
        return Response(body, media_type="application/json")

    def clinic_of(self, session: Session) -> Clinic:
        """The clinic a session logged into."""
        return self.world.clinics[session.clinic_index]

    def session_for(self, request: Request) -> Session | None:
        """The live session of this request's cookie (touching it), if any."""
        return self.sessions.use(
            request.cookies.get(SESSION_COOKIE),
            self.clock.now(),
            idle=timedelta(minutes=self.settings.idle_minutes),
            absolute=timedelta(hours=self.settings.absolute_hours),
        )

    def not_logged_in(self, *, json: bool) -> Response:
        """Missing or expired session: a redirect to /login, a 401 JSON or the login page."""
        answer = self.settings.session_expired_response if json else "redirect"
        if answer == "401":
            return JSONResponse(
                {"success": False, "error": "Unauthorized", "message": "Session expired"},
                status_code=401,
            )
        if answer == "login-page":
            # 200 with HTML where JSON was expected: what a fetch that follows redirects sees.
            return HTMLResponse(self.login_html())
        return RedirectResponse("/login", status_code=302)

    def login_html(
        self, *, error: str | None = None, error_class: str | None = None, company_id: str = ""
    ) -> str:
        """The login page as the settings have it (markup, CSRF field, form drawn later)."""
        settings = self.settings
        return pages.login_page(
            settings.login_variant,
            error=error,
            error_class=error_class,
            company_id=company_id,
            csrf=self.csrf.issue() if settings.login_csrf else None,
            delay_ms=settings.login_form_delay_ms,
        )

    def endpoint(
        self, name: str, handler: Handler, *, json: bool = True, base_latency: bool = True
    ) -> PublicHandler:
        """Wrap a logged-in IDEXX handler with faults, latency, session check and stats."""

        async def guarded(request: Request) -> Response:
            async def answer() -> Response:
                session = self.session_for(request)
                if session is None:
                    return self.not_logged_in(json=json)
                return await handler(request, session)

            return await self._measured(name, answer, base_latency=base_latency)

        return guarded

    def public(self, name: str, handler: PublicHandler) -> PublicHandler:
        """Wrap a handler that needs no session (the login page) with faults and stats."""

        async def guarded(request: Request) -> Response:
            return await self._measured(name, lambda: handler(request), base_latency=False)

        return guarded

    async def _measured(
        self, name: str, answer: Callable[[], Awaitable[Response]], *, base_latency: bool
    ) -> Response:
        started = time.perf_counter()
        strike = self.faults.strike(name)
        if strike and strike.drop_after_apply:
            return await self._dropped(name, answer, strike.latency_ms, started)
        delay = (strike.latency_ms if strike else 0) + (
            self.settings.latency_ms if base_latency else 0
        )
        if delay:
            # asyncio.sleep, never time.sleep: a slow endpoint must not hold up the others.
            await asyncio.sleep(delay / 1000)
        if strike and strike.expire_session:
            self.sessions.expire_all()  # mid-run expiry: this request finds no session
        if strike and strike.answers:
            response = fault_response(strike, name)
        else:
            response = await answer()
        if self.settings.json_as_html and response.media_type == "application/json":
            # The real site may label its JSON as a web page; the body stays the same.
            response.headers["content-type"] = "text/html; charset=utf-8"
        self.stats.record(name, response.status_code, (time.perf_counter() - started) * 1000)
        return response

    async def _dropped(
        self,
        name: str,
        answer: Callable[[], Awaitable[Response]],
        latency_ms: int,
        started: float,
    ) -> Response:
        """Handle the request (a write is applied), wait, then close without an answer."""
        await answer()
        if latency_ms:
            await asyncio.sleep(latency_ms / 1000)
        self.stats.record(name, DROPPED, (time.perf_counter() - started) * 1000)
        return DroppedAnswer()


# The status the statistics record for a request whose connection was dropped unanswered.
DROPPED = 0


class DroppedAnswer(Response):
    """No answer at all: the connection is closed as if the network had cut it."""

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        """Abort the connection (nothing is sent)."""
        del scope, send
        # Under uvicorn, `receive` belongs to the connection's request cycle, which holds
        # the socket's transport: aborting it closes the connection unanswered. Elsewhere
        # (an in-process ASGI client) the same loss shows as an error raised to the client.
        transport = getattr(getattr(receive, "__self__", None), "transport", None)
        if transport is None:
            raise ConnectionResetError("the simulator dropped the connection (afterApply)")
        transport.abort()
        await asyncio.sleep(0)  # let the server see the connection gone (no 500 is sent)


def fault_response(strike: Strike, endpoint: str) -> Response:
    """A struck request's answer: error JSON, HTML where JSON was due, or a 200 refusal."""
    status = strike.status or 200
    headers = {"Retry-After": str(strike.retry_after)} if strike.retry_after is not None else {}
    if strike.html:
        return HTMLResponse(pages.error_page(status), status_code=status, headers=headers)
    if strike.refusal:
        message = _REFUSALS.get(endpoint, "Request could not be completed")
        return JSONResponse({"success": False, "message": message}, status, headers=headers)
    body = {"success": False, "error": _REASONS.get(status, "Error"), "status": status}
    return JSONResponse(body, status_code=status, headers=headers)


_REFUSALS = {
    "calendar": "Unable to load events",
    "page-data": "Unable to load consultation",
}
_REASONS = {
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}
