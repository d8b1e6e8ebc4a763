"""What every command shares: settings, services, output, clear errors."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, NoReturn, TypeVar

import typer

from pims_sync.bootstrap import Services, build_services
from pims_sync.errors import PimsSyncError
from pims_sync.settings import Settings, load_settings

T = TypeVar("T")

JsonOption = typer.Option(False, "--json", help="Print machine-readable JSON.")


def fail(message: str, code: int = 1) -> NoReturn:
    """Print a one-line (or few-line) error to stderr and exit non-zero."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


def settings_or_exit(**overrides: object) -> Settings:
    """Load settings; on bad values print each one and exit 2 before doing anything."""
    try:
        return load_settings(**overrides)
    except PimsSyncError as error:
        fail(error.message, code=2)


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine, turning our errors into a clear message and exit 1."""
    try:
        return asyncio.run(coro)
    except PimsSyncError as error:
        fail(error.message)


def with_services(work: Callable[[Services], Awaitable[T]]) -> T:
    """Build the services from the settings, run `work`, and close them."""
    settings = settings_or_exit()

    async def _go() -> T:
        services = build_services(settings)
        try:
            return await work(services)
        finally:
            await services.aclose()

    return run(_go())


def emit_json(data: object) -> None:
    """Print one JSON document on stdout."""
    typer.echo(json.dumps(data, default=str, indent=2, ensure_ascii=False))
