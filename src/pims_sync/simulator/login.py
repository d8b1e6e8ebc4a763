"""`/login`, `/logout` and the HTML pages around them (docs/idexx.md#login)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pims_sync.simulator import pages
from pims_sync.simulator.dataset import Clinic
from pims_sync.simulator.simulation import Simulation
from pims_sync.simulator.state import SESSION_COOKIE, Session

LOGIN_ERROR = "Invalid username or password"
CSRF_ERROR = "Your session has expired. Please try again."
LANDING_PAGE = "/schedule"
SEARCH_LANDING_PAGE = "/home"  # the landingSearchBox trait: the app shell with a search box
HOP_PATHS = ("/auth/callback", "/sso/continue")  # the loginRedirectHops chain
# Field names per login markup: (company, username, password).
FIELDS = {
    "changed": ("practice", "login[email]", "login[secret]"),
}
DEFAULT_FIELDS = ("company_id", "username", "password")


def routes(sim: Simulation) -> list[Route]:
    """The login flow and the application shell pages."""

    async def login_form(request: Request) -> Response:
        del request
        return HTMLResponse(sim.login_html())

    async def submit(request: Request) -> Response:
        return await _submit(sim, request)

    async def shell(request: Request, session: Session) -> Response:
        name, path = sim.clinic_of(session).name, request.url.path
        settings = sim.settings
        csrf = session.csrf if settings.write_csrf else None
        return HTMLResponse(
            pages.shell_page(name, path, search_box=settings.landing_search_box, csrf=csrf)
        )

    async def hop(request: Request, session: Session) -> Response:
        del session  # the cookie came with the first answer; each hop needs it
        return RedirectResponse(_next_hop(sim, request), status_code=302)

    async def logout(request: Request) -> Response:
        sim.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=302)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    home = sim.endpoint("home", shell, json=False, base_latency=False)
    hops = sim.endpoint("auth-hop", hop, json=False, base_latency=False)
    # `/appointments` is the page the original opened to take the CSRF token from.
    shells = ("/", "/schedule", "/dashboard", "/appointments", SEARCH_LANDING_PAGE)
    return [
        Route("/login", sim.public("login-page", login_form), methods=["GET"]),
        Route("/login", sim.public("login", submit), methods=["POST"]),
        Route("/logout", logout, methods=["GET", "POST"]),
        *(Route(path, home, methods=["GET"]) for path in shells),
        *(Route(path, hops, methods=["GET"]) for path in HOP_PATHS),
    ]


def _landing(sim: Simulation) -> str:
    return SEARCH_LANDING_PAGE if sim.settings.landing_search_box else LANDING_PAGE


def _hop_url(step: int, hops: int) -> str:
    """Hop `step` of `hops`: callbacks first, `/sso/continue` last."""
    path = HOP_PATHS[1] if step == hops else HOP_PATHS[0]
    return f"{path}?step={step}&hops={hops}"


def _next_hop(sim: Simulation, request: Request) -> str:
    """Where a hop of the post-login chain sends the browser next."""
    try:
        step = int(request.query_params.get("step", ""))
        hops = int(request.query_params.get("hops", ""))
    except ValueError:
        return _landing(sim)
    return _hop_url(step + 1, hops) if 0 < step < hops else _landing(sim)


async def _submit(sim: Simulation, request: Request) -> Response:
    variant = sim.settings.login_variant
    form = await request.form()
    company_field, username_field, password_field = FIELDS.get(variant, DEFAULT_FIELDS)
    company_id = str(form.get(company_field) or "").strip()
    username = str(form.get(username_field) or "").strip()
    password = str(form.get(password_field) or "")
    if variant == "2fa" and "code" in form:
        sim.stats.login_failures += 1
        return HTMLResponse(pages.two_factor_page())
    if sim.settings.login_csrf and not sim.csrf.valid(form.get("_csrf")):
        # A form posted without the token of a page we served: no session, the form again.
        sim.stats.login_failures += 1
        page = sim.login_html(error=CSRF_ERROR, error_class="alert-danger", company_id=company_id)
        return HTMLResponse(page, status_code=403)
    clinic = _authenticate(sim, company_id, username, password)
    if clinic is None:
        sim.stats.login_failures += 1
        return HTMLResponse(sim.login_html(error=LOGIN_ERROR, company_id=company_id))
    if variant == "2fa":
        # Right password, but the account wants a code: no session, still under /login.
        sim.stats.login_failures += 1
        return HTMLResponse(pages.two_factor_page())
    session = sim.sessions.open(clinic.index, sim.clock.now())
    sim.stats.logins += 1
    hops = sim.settings.login_redirect_hops
    # With hops, the cookie comes with this first answer and the chain ends on the landing.
    response = RedirectResponse(_hop_url(1, hops) if hops else _landing(sim), status_code=302)
    response.set_cookie(SESSION_COOKIE, session.token, path="/", httponly=True, samesite="lax")
    return response


def _authenticate(sim: Simulation, company_id: str, username: str, password: str) -> Clinic | None:
    """The clinic these credentials open; without a company id, the first that matches."""
    candidates = sim.world.clinics
    if company_id:
        candidates = [clinic for clinic in candidates if clinic.company_id == company_id]
    for clinic in candidates:
        expected_username, expected_password = sim.credentials[clinic.company_id]
        if username.casefold() == expected_username.casefold() and password == expected_password:
            return clinic
    return None
