"""What every command shares: settings, services, output, clear errors."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from typing import Any, NoReturn, TypeVar
from uuid import UUID

import typer
from alembic.util import CommandError
from rich import box
from rich.console import Console
from rich.table import Table
from sqlalchemy.exc import DBAPIError

from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.bootstrap import Services, build_services
from pims_sync.errors import ConfigError, PimsSyncError
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
    """Run a coroutine, turning our errors into a clear message and exit 1 (2: configuration)."""
    try:
        return asyncio.run(coro)
    except ConfigError as error:
        fail(error.message, code=2)
    except PimsSyncError as error:
        fail(error.message)
    except DBAPIError as error:
        fail(database_problem(error))


def database_problem(error: DBAPIError) -> str:
    """One line for a database error: the driver's first line and what to try."""
    lines = str(error.orig).strip().splitlines() if error.orig else []
    first = lines[0] if lines else type(error).__name__
    lowered = first.lower()
    if any(sign in lowered for sign in ("does not exist", "no such table", "no such column")):
        return f"database error: {first} (run `pims-sync db upgrade` to create the schema)"
    if "connect" in lowered:
        return f"database error: {first} (check DATABASE_URL and that the database is running)"
    return f"database error: {first}"


def upgrade_embedded_schema(settings: Settings) -> None:
    """Bring the embedded SQLite database to the latest schema, so admin commands just work.

    Postgres is left alone: production upgrades are an explicit `pims-sync db upgrade`.
    """
    if not settings.is_sqlite:
        return
    try:
        upgrade_database(settings.database_url)
    except DBAPIError as error:
        fail(database_problem(error))
    except (CommandError, PimsSyncError) as error:
        fail(f"could not upgrade the SQLite schema: {error}")


def with_services(work: Callable[[Services], Awaitable[T]], *, upgrade_sqlite: bool = False) -> T:
    """Build the services from the settings, run `work`, and close them."""
    settings = settings_or_exit()
    if upgrade_sqlite:
        upgrade_embedded_schema(settings)

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


def parse_id(value: str, option: str) -> UUID:
    """A UUID given on the command line, or exit 1 naming the option."""
    try:
        return UUID(value.strip())
    except ValueError:
        fail(f"{option} must be an id (a UUID), got {value!r}")


def format_time(value: datetime | None) -> str:
    """A timestamp for tables: UTC, to the second; empty when absent."""
    if value is None:
        return ""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def print_table(title: str, columns: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """A rich table on a terminal; tab-separated lines (header first) when piped."""
    cells = [["" if cell is None else str(cell) for cell in row] for row in rows]
    if not sys.stdout.isatty():
        typer.echo("\t".join(columns))
        for row in cells:
            typer.echo("\t".join(row))
        return
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in cells:
        table.add_row(*row)
    Console().print(table)
