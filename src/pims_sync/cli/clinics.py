"""`pims-sync clinics add|list` (and `freshness|pause|resume|set`): the tenants we sync."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from pims_sync.cli import clinic_health
from pims_sync.cli.common import (
    JsonOption,
    emit_json,
    fail,
    format_time,
    print_table,
    with_services,
)
from pims_sync.domain.clinics import DEFAULT_TIMEZONE, Clinic, validate_timezone
from pims_sync.errors import InvalidInputError

app = typer.Typer(
    name="clinics",
    help="Add and list clinics; their freshness, pausing and resuming them, their limits.",
    no_args_is_help=True,
)


def clinic_json(clinic: Clinic) -> dict[str, Any]:
    """The JSON form of a clinic, as `--json` prints it."""
    return {
        "id": str(clinic.id),
        "name": clinic.name,
        "timezone": clinic.timezone,
        "pimsType": clinic.pims_type,
        "isActive": clinic.is_active,
        "createdAt": clinic.created_at.isoformat() if clinic.created_at else None,
    }


@app.command("add")
def add(
    name: Annotated[str, typer.Option("--name", help="The clinic's name.")],
    timezone: Annotated[
        str, typer.Option("--timezone", help="IANA time zone the PIMS speaks in.")
    ] = DEFAULT_TIMEZONE,
    as_json: bool = JsonOption,
) -> None:
    """Create a clinic and print its id (only the id, so `ID=$(...)` works)."""
    name = name.strip()
    if not name:
        fail("--name must not be empty")
    try:
        timezone = validate_timezone(timezone.strip())
    except InvalidInputError as error:
        fail(error.message)
    clinic = with_services(
        lambda services: services.clinics.add(name=name, timezone=timezone), upgrade_sqlite=True
    )
    if as_json:
        emit_json(clinic_json(clinic))
    else:
        typer.echo(str(clinic.id))


@app.command("list")
def list_clinics(as_json: bool = JsonOption) -> None:
    """List every clinic."""
    clinics = with_services(lambda services: services.clinics.list(), upgrade_sqlite=True)
    if as_json:
        emit_json([clinic_json(clinic) for clinic in clinics])
        return
    if not clinics:
        typer.echo("No clinics yet: add one with `pims-sync clinics add --name NAME`.", err=True)
        return
    rows = [
        (
            c.id,
            c.name,
            c.timezone,
            c.pims_type,
            "yes" if c.is_active else "no",
            format_time(c.created_at),
        )
        for c in clinics
    ]
    print_table("Clinics", ("id", "name", "timezone", "pims", "active", "created"), rows)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    clinic_health.add_commands(app)
    root.add_typer(app)
