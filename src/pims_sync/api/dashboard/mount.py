"""Mounting the dashboard on the app: its pages, static files and refusals."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from pims_sync.api.dashboard import clinic  # noqa: F401 - registers the clinic pages
from pims_sync.api.dashboard.pages import (
    HERE,
    PREFIX,
    SIGN_IN,
    CsrfRefused,
    PageNotFound,
    SignInRequired,
    page,
    router,
    sealer_of,
)
from pims_sync.api.dashboard.session import Sealer, SignInLinks
from pims_sync.settings import Settings


def install_dashboard(app: FastAPI, settings: Settings) -> None:
    """Mount the dashboard's pages and static files; off (a 503 page) without the secret."""
    secret = settings.dashboard_secret
    app.state.dashboard_sealer = Sealer(secret) if secret is not None else None
    app.state.dashboard_links = SignInLinks()
    app.mount(f"{PREFIX}/static", StaticFiles(directory=HERE / "static"), name="dashboard-static")

    async def to_sign_in(request: Request, _: Exception) -> Response:
        if sealer_of(request) is None:
            return page(request, "off.html", code=503)
        if request.headers.get("hx-request"):
            # htmx follows redirects inside its target: make it load the whole page.
            return Response(status_code=401, headers={"HX-Redirect": SIGN_IN})
        return RedirectResponse(SIGN_IN, status_code=303)

    async def refuse(request: Request, _: Exception) -> Response:
        return page(request, "refused.html", code=403)

    async def not_found(request: Request, _: Exception) -> Response:
        return page(request, "not_found.html", code=404)

    app.add_exception_handler(SignInRequired, to_sign_in)
    app.add_exception_handler(CsrfRefused, refuse)
    app.add_exception_handler(PageNotFound, not_found)
    app.include_router(router)
