"""The root `pims-sync` command: registers every sub-command."""

from __future__ import annotations

import typer

from pims_sync import __version__
from pims_sync.cli import (
    appointments,
    booking,
    clinics,
    console_command,
    credentials,
    db,
    demo,
    doctor,
    history,
    keys,
    schedules,
    serve,
    simulator,
    sync,
    webhooks,
    worker,
)

app = typer.Typer(
    name="pims-sync",
    help="Keeps a veterinary clinic's cases in step with its PIMS (IDEXX Neo).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"pims-sync {__version__}")
        raise typer.Exit


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Keeps a veterinary clinic's cases in step with its PIMS (IDEXX Neo)."""


for module in (
    db,
    clinics,
    credentials,
    doctor,
    keys,
    schedules,
    serve,
    worker,
    simulator,
    sync,
    history,
    demo,
    console_command,
    webhooks,
    booking,
    appointments,
):
    module.register(app)


def main() -> None:
    """Console-script entry point."""
    app()
