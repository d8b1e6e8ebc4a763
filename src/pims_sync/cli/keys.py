"""`pims-sync keys create|list|revoke`: API keys, shown once and stored hashed."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import (
    JsonOption,
    emit_json,
    fail,
    format_time,
    parse_id,
    print_table,
    with_services,
)
from pims_sync.domain.api_keys import ApiKey, parse_permissions
from pims_sync.domain.instants import assume_utc
from pims_sync.errors import NotFoundError

app = typer.Typer(name="keys", help="Create, list and revoke API keys.", no_args_is_help=True)


def parse_expiry(value: str, now: datetime) -> datetime:
    """An ISO 8601 date or datetime in the future (naive means UTC), or exit 1."""
    try:
        moment = datetime.fromisoformat(value.strip())
    except ValueError:
        fail(f"--expires must be an ISO 8601 date or datetime, got {value!r}")
    moment = assume_utc(moment)
    if moment <= now:
        fail(f"--expires must be in the future, got {moment.isoformat()}")
    return moment


def parse_permission_list(value: str) -> list[str]:
    """Comma-separated permission names, validated; exit 1 on an unknown one."""
    names = [name for name in value.split(",") if name.strip()]
    if not names:
        fail("--permissions must name at least one permission (or omit it for full access)")
    try:
        return parse_permissions(names)
    except ValueError as error:
        fail(f"--permissions: {error}")


def key_json(key: ApiKey) -> dict[str, Any]:
    """A stored key as JSON: never the key or its hash."""
    return {
        "id": str(key.id),
        "clinicId": str(key.clinic_id) if key.clinic_id else None,
        "name": key.name,
        "prefix": key.key_prefix,
        "permissions": list(key.permissions) if key.permissions is not None else None,
        "isActive": key.is_active,
        "expiresAt": key.expires_at.isoformat() if key.expires_at else None,
        "lastUsedAt": key.last_used_at.isoformat() if key.last_used_at else None,
        "createdAt": key.created_at.isoformat() if key.created_at else None,
    }


@app.command("create")
def create(
    clinic: Annotated[
        str | None, typer.Option("--clinic", help="The clinic this key acts for.")
    ] = None,
    service: Annotated[
        bool, typer.Option("--service", help="A key with no clinic: requests name `clinicId`.")
    ] = False,
    name: Annotated[str, typer.Option("--name", help="A label for the key.")] = "default",
    permissions: Annotated[
        str | None,
        typer.Option(
            "--permissions", help="Comma-separated, e.g. sync:inbound,sync:cases; omit=all."
        ),
    ] = None,
    expires: Annotated[
        str | None, typer.Option("--expires", help="ISO 8601 date or datetime (UTC if no zone).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Create an API key and print it once."""
    if (clinic is None) == (not service):
        fail("give exactly one of --clinic ID or --service")
    clinic_id = parse_id(clinic, "--clinic") if clinic is not None else None
    if not name.strip():
        fail("--name must not be empty")
    granted = parse_permission_list(permissions) if permissions is not None else None
    expires_at = parse_expiry(expires, datetime.now(UTC)) if expires is not None else None

    async def _create(services: Services) -> tuple[ApiKey, str]:
        if clinic_id is not None and await services.clinics.get(clinic_id) is None:
            raise NotFoundError(f"no clinic with id {clinic_id} (see `pims-sync clinics list`)")
        return await services.api_keys.create(
            clinic_id=clinic_id, name=name.strip(), permissions=granted, expires_at=expires_at
        )

    row, key = with_services(_create, upgrade_sqlite=True)
    typer.echo(
        f"Save this API key now: it will not be shown again "
        f"(id {row.id}, prefix {row.key_prefix}).",
        err=True,
    )
    if as_json:
        emit_json({**key_json(row), "key": key})
    else:
        typer.echo(key)


@app.command("list")
def list_keys(
    clinic: Annotated[str | None, typer.Option("--clinic", help="Only this clinic's keys.")] = None,
    as_json: bool = JsonOption,
) -> None:
    """List API keys (prefixes only: keys and hashes are never shown)."""
    clinic_id = parse_id(clinic, "--clinic") if clinic is not None else None
    keys = with_services(lambda services: services.api_keys.list(clinic_id), upgrade_sqlite=True)
    if as_json:
        emit_json([key_json(key) for key in keys])
        return
    if not keys:
        typer.echo("No API keys: create one with `pims-sync keys create`.", err=True)
        return
    columns = ("id", "clinic", "name", "prefix", "permissions", "active", "expires", "last used")
    print_table("API keys", columns, [_row(key) for key in keys])


def _row(key: ApiKey) -> tuple[object, ...]:
    return (
        key.id,
        key.clinic_id or "(service)",
        key.name,
        key.key_prefix,
        ",".join(key.permissions) if key.permissions is not None else "(all)",
        "yes" if key.is_active else "no",
        format_time(key.expires_at) or "never",
        format_time(key.last_used_at) or "never",
    )


@app.command("revoke")
def revoke(
    key_id: Annotated[str, typer.Argument(metavar="ID", help="The key's id (from `keys list`).")],
    as_json: bool = JsonOption,
) -> None:
    """Disable an API key; requests with it are refused from now on."""
    parsed: UUID = parse_id(key_id, "ID")
    found = with_services(lambda services: services.api_keys.revoke(parsed), upgrade_sqlite=True)
    if not found:
        fail(f"no API key with id {parsed} (see `pims-sync keys list`)")
    if as_json:
        emit_json({"id": str(parsed), "revoked": True})
    else:
        typer.echo(f"Revoked API key {parsed}.")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
