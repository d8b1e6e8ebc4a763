"""`pims-sync serve`: the HTTP API under uvicorn, on HOST:PORT."""

from __future__ import annotations

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
from pims_sync.cli.common import fail, settings_or_exit, upgrade_embedded_schema
from pims_sync.errors import ConfigError
from pims_sync.logs import configure_logging
from pims_sync.settings import Settings

logger = logging.getLogger("pims_sync.serve")

# Running syncs get this long to finish after SIGTERM (spec §8).
GRACEFUL_SHUTDOWN_S = 30


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


def _stop_quietly(_signum: int, _frame: FrameType | None) -> None:
    # uvicorn shuts down gracefully on SIGTERM/SIGINT, then re-raises the signal to
    # the handler it found: this one, so a requested stop exits 0 without a traceback.
    raise SystemExit(0)


def run_server(settings: Settings) -> None:
    """Serve until a signal; exit 1 if the server could not start (e.g. port in use)."""
    config = uvicorn.Config(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        log_config=None,
        log_level=settings.log_level,
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = uvicorn.Server(config)
    signal.signal(signal.SIGTERM, _stop_quietly)
    signal.signal(signal.SIGINT, _stop_quietly)
    server.run()
    if not server.started:
        raise typer.Exit(1)


def serve(
    host: Annotated[str | None, typer.Option("--host", help="Address to bind (HOST).")] = None,
    port: Annotated[int | None, typer.Option("--port", help="Port to listen on (PORT).")] = None,
) -> None:
    """Run the HTTP API until SIGTERM or Ctrl-C (needs ENCRYPTION_KEY)."""
    overrides = {
        name: value for name, value in (("host", host), ("port", port)) if value is not None
    }
    settings = settings_or_exit(**overrides)
    try:
        settings.require_encryption_key()
    except ConfigError as error:
        fail(error.message, code=2)
    prepare_database(settings)
    configure_logging(settings.log_level, json_lines=settings.environment == "production")
    logger.info(
        "pims-sync %s serving on http://%s:%d (database %s, environment %s)",
        __version__,
        settings.host,
        settings.port,
        display_url(settings.database_url),
        settings.environment,
    )
    run_server(settings)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.command("serve")(serve)
