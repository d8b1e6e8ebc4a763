"""`pims-sync serve`: the HTTP API under uvicorn, with the scheduler and a job worker."""

from __future__ import annotations

import asyncio
import logging
import signal
from types import FrameType
from typing import Annotated

import typer
import uvicorn
from sqlalchemy.exc import DBAPIError

from pims_sync import __version__
from pims_sync.adapters.sql.migrate import database_revision, display_url, head_revision
from pims_sync.api.app import create_app
from pims_sync.api.server import server_config
from pims_sync.bootstrap import build_services
from pims_sync.cli.common import fail, settings_or_exit, upgrade_embedded_schema
from pims_sync.cli.runtime import Runtime
from pims_sync.errors import ConfigError
from pims_sync.logs import configure_logging
from pims_sync.settings import Settings

logger = logging.getLogger("pims_sync.serve")


def prepare_database(settings: Settings) -> None:
    """SQLite: upgrade the schema in place. Postgres: refuse to start unless at head."""
    if settings.is_sqlite:
        upgrade_embedded_schema(settings)
        return
    url = settings.database_url
    try:
        current = database_revision(url)
    except DBAPIError as error:
        cause = str(error.orig or error).strip().splitlines() or [type(error).__name__]
        fail(f"database {display_url(url)}: {cause[0]}")
    head = head_revision()
    if current != head:
        fail(
            f"database {display_url(url)} is at {current or 'no revision'}, not {head}: "
            "run `pims-sync db upgrade` first"
        )


class _Server(uvicorn.Server):
    """uvicorn that also tells the runtime to stop as soon as a stop signal arrives."""

    def __init__(self, config: uvicorn.Config, runtime: Runtime) -> None:
        super().__init__(config)
        self._runtime = runtime

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        # Syncs start their grace period now, while uvicorn drains open requests.
        self._runtime.request_stop()
        super().handle_exit(sig, frame)


async def _serve(settings: Settings, *, scheduler: bool, worker: bool) -> bool:
    """API, scheduler and worker in one event loop; True if the server started."""
    services = build_services(settings)
    runtime = Runtime(services, scheduler=scheduler, worker=worker)
    config = server_config(create_app(settings, services), settings)
    server = _Server(config, runtime)
    # Outside uvicorn's own handling (while starting, and when uvicorn re-raises the
    # signal after its shutdown) a stop signal still means: stop, then exit 0.
    signal.signal(signal.SIGTERM, server.handle_exit)
    signal.signal(signal.SIGINT, server.handle_exit)
    try:
        await runtime.start()
        await server.serve()
    finally:
        await runtime.stop()
        await services.aclose()
    return server.started


def run_server(settings: Settings, *, scheduler: bool = True, worker: bool = True) -> None:
    """Serve until a signal (exit 0); exit 1 if the server could not start (e.g. port in use)."""
    started = asyncio.run(_serve(settings, scheduler=scheduler, worker=worker))
    if not started:
        raise typer.Exit(1)


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (HOST).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (PORT).")] = None,
    no_scheduler: Annotated[
        bool, typer.Option("--no-scheduler", help="Do not run the scheduler (ENABLE_SCHEDULER).")
    ] = False,
    no_worker: Annotated[
        bool, typer.Option("--no-worker", help="Do not execute jobs here (Postgres only).")
    ] = False,
) -> None:
    """Run the HTTP API, the scheduler and a job worker until SIGTERM or Ctrl-C."""
    overrides = {
        name: value for name, value in (("host", host), ("port", port)) if value is not None
    }
    settings = settings_or_exit(**overrides)
    try:
        settings.require_encryption_key()
    except ConfigError as error:
        fail(error.message, code=2)
    if no_worker and settings.is_sqlite:
        fail("--no-worker needs Postgres: with SQLite, jobs run inside `serve`", code=2)
    prepare_database(settings)
    configure_logging(settings.log_level, json_lines=settings.environment == "production")
    scheduler = settings.enable_scheduler and not no_scheduler
    logger.info(
        "pims-sync %s serving on http://%s:%d (database %s, environment %s, log level %s, "
        "scheduler %s, worker %s)",
        __version__,
        settings.host,
        settings.port,
        display_url(settings.database_url),
        settings.environment,
        settings.log_level,
        "on" if scheduler else "off",
        "off" if no_worker else "on",
    )
    run_server(settings, scheduler=scheduler, worker=not no_worker)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.command("serve")(serve)
