"""`pims-sync db upgrade|check`: bring the schema to the latest revision, or report gaps."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import typer
from alembic.util import CommandError
from sqlalchemy.exc import DBAPIError

from pims_sync.adapters.sql.migrate import (
    database_revision,
    display_url,
    head_revision,
    upgrade_database,
)
from pims_sync.adapters.sql.migrations.ensure import repair_database
from pims_sync.adapters.sql.schema import check_database
from pims_sync.cli.common import JsonOption, emit_json, fail, settings_or_exit
from pims_sync.errors import PimsSyncError

T = TypeVar("T")

app = typer.Typer(
    name="db", help="Create, upgrade and check the database schema.", no_args_is_help=True
)


def _first_line(error: BaseException) -> str:
    cause = error.orig if isinstance(error, DBAPIError) and error.orig else error
    lines = str(cause).strip().splitlines()
    return lines[0] if lines else type(cause).__name__


def _attempt(work: Callable[[], T], url: str) -> T | str:
    """Run `work`; on a database or migration error, give back one line saying what failed."""
    try:
        return work()
    except DBAPIError as error:
        return f"database {display_url(url)}: {_first_line(error)}"
    except (PimsSyncError, CommandError) as error:
        return f"database {display_url(url)}: {_first_line(error)}"


@app.command("upgrade")
def upgrade(
    repair: bool = typer.Option(
        False, "--repair", help="Also re-add tables, columns and keys lost after migrating."
    ),
) -> None:
    """Apply the migrations: create what is missing, never drop a table, column or row."""
    url = settings_or_exit().database_url

    def _go() -> tuple[str | None, str | None, list[str], list[str]]:
        before = database_revision(url)
        upgrade_database(url)
        lost = check_database(url) if repair else []
        if lost:
            repair_database(url)
        return before, database_revision(url), lost, check_database(url)

    outcome = _attempt(_go, url)
    if isinstance(outcome, str):
        fail(outcome)
    before, after, repaired, problems = outcome
    if before == after:
        typer.echo(f"{display_url(url)} is already at revision {after} (head); nothing to do.")
    else:
        typer.echo(f"Upgraded {display_url(url)} from {before or 'no revision'} to {after}.")
    if repaired:
        typer.echo("Re-added: " + "; ".join(p.removeprefix("missing ") for p in repaired))
    if problems:
        # At head, yet parts are gone (dropped by hand): migrations never run twice.
        typer.echo("Still missing: " + "; ".join(problems), err=True)
        fail("run `pims-sync db upgrade --repair` to re-add them")


@app.command("check")
def check(as_json: bool = JsonOption) -> None:
    """Report missing tables, columns, indexes and constraints; exit 1 if there are any."""
    url = settings_or_exit().database_url
    outcome = _attempt(lambda: check_database(url), url)
    if isinstance(outcome, str):  # could not look: not a schema problem, no upgrade hint
        if as_json:
            emit_json({"ok": False, "problems": [outcome]})
            raise typer.Exit(1)
        fail(outcome)
    problems = outcome
    if as_json:
        emit_json({"ok": not problems, "problems": problems})
    elif problems:
        typer.echo(f"{display_url(url)}: {len(problems)} problem(s):")
        for problem in problems:
            typer.echo(f"  {problem}")
        typer.echo("Run `pims-sync db upgrade` to add what is missing.")
    else:
        typer.echo(f"{display_url(url)}: schema complete (revision {head_revision()}).")
    if problems:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
