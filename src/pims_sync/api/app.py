"""The FastAPI application: `create_app(settings)`, no module-level instance."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from pims_sync import __version__
from pims_sync.api.dashboard.mount import install_dashboard
from pims_sync.api.errors import install_error_handlers
from pims_sync.api.middleware import (
    MAX_BODY_BYTES,
    BodyLimitMiddleware,
    ObserveMiddleware,
    SecurityHeadersMiddleware,
)
from pims_sync.api.responses import without_422
from pims_sync.api.routes import (
    appointments,
    availability,
    booking,
    clinic,
    events,
    scheduler,
    sync,
    system,
    webhooks,
)
from pims_sync.api.streams import StreamSlots
from pims_sync.bootstrap import Services, build_services
from pims_sync.ports.metrics import NO_METRICS, MetricsSink
from pims_sync.settings import Settings

DESCRIPTION = (
    "Keeps a veterinary clinic's cases in step with its PIMS (IDEXX Neo). "
    "Authenticated routes take the `X-API-Key` header; errors share one JSON envelope."
)


def _metrics_of(app: FastAPI) -> MetricsSink:
    """The services' metrics; none to count into before the lifespan has built them."""
    services: Services | None = getattr(app.state, "services", None)
    return NO_METRICS if services is None else services.metrics


def _declare_400_not_422(app: FastAPI) -> None:
    """The schema says what the error handlers answer: 400 for bad input, never 422."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = without_422(build())
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings, services: Services | None = None) -> FastAPI:
    """Build the app; its lifespan builds the services (and closes them) unless given."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        app.state.services = services if services is not None else build_services(settings)
        try:
            yield
        finally:
            if owned:
                await app.state.services.aclose()

    docs = settings.docs_enabled  # API_DOCS; off by default in production
    app = FastAPI(
        title="pims-sync",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url="/docs" if docs else None,
        redoc_url="/redoc" if docs else None,
    )
    app.state.settings = settings
    app.state.services = services
    app.state.stream_slots = StreamSlots(settings.sse_max_streams_per_key)
    install_error_handlers(app)
    _declare_400_not_422(app)
    app.add_middleware(BodyLimitMiddleware, limit=MAX_BODY_BYTES)
    # Outside the body limit: it also counts the 413s and catches what nothing else did.
    app.add_middleware(ObserveMiddleware, metrics_of=lambda: _metrics_of(app))
    # Added last, so outermost: the headers go on every answer, the last-resort 500 too.
    app.add_middleware(SecurityHeadersMiddleware)
    app.include_router(system.router)
    app.include_router(clinic.router)
    app.include_router(sync.router)
    app.include_router(scheduler.router)
    app.include_router(events.router)
    app.include_router(webhooks.router)
    app.include_router(booking.router)
    app.include_router(availability.router)
    app.include_router(appointments.router)
    install_dashboard(app, settings)
    return app
