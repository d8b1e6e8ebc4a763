"""A tiny IDEXX Neo stand-in whose pages each test writes: real HTTP (uvicorn in a thread).

For the login traits the simulator has no setting for (an `otp` page, a zip-code landing,
a script redirect, a login page on another origin), for hostile pages (and, as a second
instance, the service's own API or another site they try to reach), and to see what the
browser and the HTTP transport send (user agent, headers, form fields).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from pims_sync.simulator.server import ThreadedServer

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
        self._server = ThreadedServer(app, host="127.0.0.1", name="idexx-stand-in")
        self.port: int = self._server.port
        self.base_url = self._server.base_url

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

    def __enter__(self) -> StandIn:
        self._server.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self._server.stop()


def json_answer(payload: object) -> Handler:
    """A handler answering JSON (for data calls)."""

    async def answer(request: Request) -> Response:
        del request
        return JSONResponse(payload)

    return answer
