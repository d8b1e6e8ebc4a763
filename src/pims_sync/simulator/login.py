"""`/login`, `/logout` and the HTML pages around them (§1.2)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from pims_sync.simulator import pages
from pims_sync.simulator.dataset import Clinic
from pims_sync.simulator.simulation import Simulation
from pims_sync.simulator.state import SESSION_COOKIE, Session

LOGIN_ERROR = "Invalid username or password"
LANDING_PAGE = "/schedule"
# Field names per login markup: (company, username, password).
FIELDS = {
    "changed": ("practice", "login[email]", "login[secret]"),
}
DEFAULT_FIELDS = ("company_id", "username", "password")


def routes(sim: Simulation) -> list[Route]:
    """The login flow and the application shell pages."""

    async def login_form(request: Request) -> Response:
        del request
        return HTMLResponse(pages.login_page(sim.settings.login_variant))

    async def submit(request: Request) -> Response:
        return await _submit(sim, request)

    async def shell(request: Request, session: Session) -> Response:
        return HTMLResponse(pages.shell_page(sim.clinic_of(session).name, request.url.path))

    async def logout(request: Request) -> Response:
        sim.sessions.close(request.cookies.get(SESSION_COOKIE))
        response = RedirectResponse("/login", status_code=302)
        response.delete_cookie(SESSION_COOKIE, path="/")
        return response

    home = sim.endpoint("home", shell, json=False, base_latency=False)
    return [
        Route("/login", sim.public("login-page", login_form), methods=["GET"]),
        Route("/login", sim.public("login", submit), methods=["POST"]),
        Route("/logout", logout, methods=["GET", "POST"]),
        *(Route(path, home, methods=["GET"]) for path in ("/", "/schedule", "/dashboard")),
    ]


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
    clinic = _authenticate(sim, company_id, username, password)
    if clinic is None:
        sim.stats.login_failures += 1
        page = pages.login_page(variant, error=LOGIN_ERROR, company_id=company_id)
        return HTMLResponse(page)
    if variant == "2fa":
        # Right password, but the account wants a code: no session, still under /login.
        sim.stats.login_failures += 1
        return HTMLResponse(pages.two_factor_page())
    session = sim.sessions.open(clinic.index, sim.clock.now())
    sim.stats.logins += 1
    response = RedirectResponse(LANDING_PAGE, status_code=302)
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
