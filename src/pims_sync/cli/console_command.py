"""`pims-sync cli`: the interactive console against a running service.

See README.md#interactive-console.
"""

from __future__ import annotations

import asyncio
import sys
from typing import Annotated

import typer

from pims_sync.cli.console.client import (
    CLINIC_ENV,
    DEFAULT_URL,
    KEY_ENV,
    METRICS_TOKEN_ENV,
    URL_ENV,
    ServiceClient,
)


def console(
    url: Annotated[
        str, typer.Option("--url", envvar=URL_ENV, help="The service's address.")
    ] = DEFAULT_URL,
    api_key: Annotated[
        str | None,
        typer.Option(
            "--api-key",
            envvar=KEY_ENV,
            help="An API key of the clinic: the 64 hex characters `pims-sync keys create` printed.",
        ),
    ] = None,
    clinic: Annotated[
        str | None,
        typer.Option(
            "--clinic", envvar=CLINIC_ENV, help="The clinic's id (a service key needs it)."
        ),
    ] = None,
    plain: Annotated[
        bool, typer.Option("--plain", help="Lines of text even on a terminal.")
    ] = False,
    metrics_token: Annotated[
        str | None,
        typer.Option(
            "--metrics-token",
            envvar=METRICS_TOKEN_ENV,
            help="The service's METRICS_TOKEN, if it has one (for the health screen).",
        ),
    ] = None,
) -> None:
    """The interactive console: run syncs, watch status, history, health and schedules."""
    client = ServiceClient(url, api_key, clinic, metrics_token)
    if plain or not (sys.stdin.isatty() and sys.stdout.isatty()):
        _plain(client)
        return
    # Imported here: Textual takes a moment to load and the plain mode does not need it.
    try:
        from pims_sync.cli.console.app import ConsoleApp

        ConsoleApp(client).run()
    except KeyboardInterrupt:  # Ctrl-C before the app took the terminal over: a clean exit
        typer.echo("")


def _plain(client: ServiceClient) -> None:
    from pims_sync.cli.console.plain import PlainConsole

    async def go() -> None:
        try:
            await PlainConsole(client, sys.stdin.readline, sys.stdout).run()
        finally:
            await client.aclose()

    try:
        asyncio.run(go())
    except KeyboardInterrupt:
        typer.echo("")


def register(root: typer.Typer) -> None:
    """Add `pims-sync cli` to the root command."""
    root.command("cli")(console)
