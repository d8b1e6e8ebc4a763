"""A tiny IDEXX Neo stand-in whose pages each test writes: real HTTP (uvicorn in a thread).

For the login traits the simulator has no setting for (an `otp` page, a zip-code landing,
a script redirect, a login page on another origin), for hostile pages (and, as a second
instance, the service's own API or another site they try to reach), and to see what the
browser and the HTTP transport send (user agent, headers, form fields).
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

Handler = Callable[[Request], Awaitable[Response]]
SESSION = "neo_session"
USERNAME = "vet@example.com"
PASSWORD = "stand-in-password"


@dataclass(frozen=True)
class Seen:
    """One request the stand-in answered (never its body)."""

    method: str
    path: str
    user_agent: str
    accept: str
    xhr: str


def page(body: str, title: str = "IDEXX Neo") -> str:
    """A whole HTML document around `body`."""
    return f"<!DOCTYPE html><html><head><title>{title}</title></head><body>{body}</body></html>"


def login_form(*, hidden: str = "", submit: str = "<button type='submit'>Login</button>") -> str:
    """The login form as the simulator draws it, with extra hidden inputs or another button."""
    return (
        "<form method='post' action='/login'><h1>IDEXX Neo</h1>"
        f"{hidden}"
        "<input name='company_id' type='text'>"
        "<input name='username' type='email'>"
        "<input name='password' type='password'>"
        f"{submit}</form>"
    )


def signed_in(location: str) -> Response:
    """A redirect that opens a session (the cookie a login sets)."""
    response = Response(status_code=302, headers={"Location": location})
    response.set_cookie(SESSION, "s-1", path="/", httponly=True)
    return response


def html(body: str, status: int = 200) -> Handler:
    """A handler answering one fixed page."""

    async def answer(request: Request) -> Response:
        del request
        return HTMLResponse(page(body), status_code=status)

    return answer


class StandIn:
    """Answers `routes[(method, path)]`; records every request and every posted form."""

    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Handler] = {}
        self.seen: list[Seen] = []
        self.forms: list[dict[str, str]] = []
        app = Starlette(routes=[Route("/{path:path}", self._dispatch, methods=["GET", "POST"])])
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # As BackgroundSimulator: uvicorn gets this socket (proto 0), on which asyncio leaves
        # Nagle on; accepted connections inherit the option (no ~40 ms delayed-ACK waits).
        self._socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._socket.bind(("127.0.0.1", 0))
        self.port: int = self._socket.getsockname()[1]
        self.base_url = f"http://127.0.0.1:{self.port}"
        config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="off")
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name="idexx-stand-in", daemon=True)

    def reset(self) -> None:
        """No pages, nothing seen."""
        self.routes.clear()
        self.seen.clear()
        self.forms.clear()

    def login_accepts(self, landing: str = "/schedule") -> None:
        """A standard login form; the right credentials open a session and go to `landing`."""
        self.routes[("GET", "/login")] = html(login_form())

        async def submit(request: Request) -> Response:
            form = self.forms[-1]
            if form.get("username") == USERNAME and form.get("password") == PASSWORD:
                return signed_in(landing)
            return HTMLResponse(page(login_form() + "<div class='error-message'>Denied</div>"))

        self.routes[("POST", "/login")] = submit

    async def _dispatch(self, request: Request) -> Response:
        headers = request.headers
        self.seen.append(
            Seen(
                request.method,
                request.url.path,
                headers.get("user-agent", ""),
                headers.get("accept", ""),
                headers.get("x-requested-with", ""),
            )
        )
        if request.method == "POST":
            self.forms.append({k: str(v) for k, v in (await request.form()).items()})
        handler = self.routes.get((request.method, request.url.path))
        if handler is None:
            return PlainTextResponse("not here", status_code=404)
        return await handler(request)

    def _run(self) -> None:
        asyncio.run(self._server.serve(sockets=[self._socket]))

    def __enter__(self) -> StandIn:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the stand-in did not start")
            time.sleep(0.01)
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)
        self._socket.close()


def json_answer(payload: object) -> Handler:
    """A handler answering JSON (for data calls)."""

    async def answer(request: Request) -> Response:
        del request
        return JSONResponse(payload)

    return answer
