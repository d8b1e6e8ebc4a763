"""`pims-sync worker`: executes queued sync jobs (Postgres), no HTTP API."""

from __future__ import annotations

import asyncio
import logging
import signal
from typing import Annotated

import typer

from pims_sync import __version__
from pims_sync.adapters.sql.migrate import display_url
from pims_sync.bootstrap import build_services
from pims_sync.cli.common import fail, settings_or_exit
from pims_sync.cli.runtime import Runtime
from pims_sync.cli.serve import prepare_database
from pims_sync.errors import ConfigError
from pims_sync.logs import configure_logging
from pims_sync.settings import Settings

logger = logging.getLogger("pims_sync.worker")


async def _work(settings: Settings, *, scheduler: bool) -> None:
    services = build_services(settings)
    runtime = Runtime(services, scheduler=scheduler, worker=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    try:
        await runtime.start()
        await stop.wait()
        logger.info(
            "stop requested: finishing running syncs (grace %ss)", settings.shutdown_grace_seconds
        )
    finally:
        await runtime.stop()
        await services.aclose()


def worker(
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", min=1, help="Jobs at once (WORKER_CONCURRENCY).")
    ] = None,
    with_scheduler: Annotated[
        bool, typer.Option("--scheduler", help="Also run the scheduler in this process.")
    ] = False,
) -> None:
    """Execute sync jobs from the Postgres queue until SIGTERM or Ctrl-C (needs Postgres)."""
    overrides: dict[str, object] = {}
    if concurrency is not None:
        overrides["worker_concurrency"] = concurrency
    settings = settings_or_exit(**overrides)
    try:
        settings.require_encryption_key()
    except ConfigError as error:
        fail(error.message, code=2)
    if settings.is_sqlite:
        fail(
            "pims-sync worker needs Postgres (DATABASE_URL=postgresql://…); "
            "with SQLite, `pims-sync serve` runs the jobs itself",
            code=2,
        )
    prepare_database(settings)
    configure_logging(settings.log_level, json_lines=settings.environment == "production")
    logger.info(
        "pims-sync %s worker on %s (concurrency %d, scheduler %s)",
        __version__,
        display_url(settings.database_url),
        settings.worker_concurrency,
        "on" if with_scheduler else "off",
    )
    asyncio.run(_work(settings, scheduler=with_scheduler and settings.enable_scheduler))


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.command("worker")(worker)
