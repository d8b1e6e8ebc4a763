"""`pims-sync db upgrade|check`: bring the schema to the latest revision, or report gaps."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
from pims_sync.adapters.sql.schema import SchemaReport, database_report
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


@dataclass(frozen=True)
class _Upgrade:
    """What `db upgrade` did: revisions before and after, the schema before and after."""

    before: str | None
    after: str | None
    found: SchemaReport
    left: SchemaReport


def _repaired(outcome: _Upgrade) -> list[str]:
    """The problems the database had and has no more, but for what a first migration creates."""
    fixed = [p for p in outcome.found.problems if p not in outcome.left.problems]
    # A first migration creates tables (not a repair); the revision line is said apart.
    first = outcome.before is None
    return [
        p
        for p in fixed
        if not p.startswith("database ") and not (first and p.startswith("missing table "))
    ]


# How a problem reads once repaired: "missing column x.y" → "added column x.y".
DONE = (
    ("missing ", "added "),
    ("NOT NULL on ", "dropped NOT NULL on "),
    ("outdated ", "replaced "),
)


def _done(problem: str) -> str:
    for found, done in DONE:
        if problem.startswith(found):
            return done + problem.removeprefix(found)
    return problem


def _report(url: str, outcome: _Upgrade) -> None:
    if outcome.before == outcome.after:
        typer.echo(
            f"{display_url(url)} is already at revision {outcome.after} (head); nothing to do."
        )
    else:
        typer.echo(
            f"Upgraded {display_url(url)} from {outcome.before or 'no revision'} "
            f"to {outcome.after}."
        )
    repaired = _repaired(outcome)
    if repaired:
        typer.echo("Repaired:")
    for problem in repaired:
        typer.echo(f"  {_done(problem)}")
    if outcome.left.manual:
        typer.echo("Left as it is (change it by hand):", err=True)
    for problem in outcome.left.manual:
        typer.echo(f"  {problem}", err=True)
    missing = outcome.left.repairable
    if missing:
        # At head, yet parts are gone (dropped by hand): migrations never run twice.
        typer.echo("Still missing: " + "; ".join(missing), err=True)
        fail("run `pims-sync db upgrade --repair` to re-add them")
    if outcome.left.manual:
        count = len(outcome.left.manual)
        fail(f"{count} difference(s) left: change them by hand, then run `pims-sync db check`")


@app.command("upgrade")
def upgrade(
    repair: bool = typer.Option(
        False,
        "--repair",
        help="Also re-add what was lost after migrating (tables, columns, keys, defaults).",
    ),
) -> None:
    """Apply the migrations: create what is missing, never drop a table, column or row."""
    url = settings_or_exit().database_url

    def _go() -> _Upgrade:
        found = database_report(url)
        before = database_revision(url)
        upgrade_database(url)
        if repair and database_report(url).repairable:
            repair_database(url)
        return _Upgrade(before, database_revision(url), found, database_report(url))

    outcome = _attempt(_go, url)
    if isinstance(outcome, str):
        fail(outcome)
    _report(url, outcome)


@app.command("check")
def check(as_json: bool = JsonOption) -> None:
    """Report missing tables, columns, keys, defaults and NOT NULLs; exit 1 if there are any."""
    url = settings_or_exit().database_url
    outcome = _attempt(lambda: database_report(url), url)
    if isinstance(outcome, str):  # could not look: not a schema problem, no upgrade hint
        if as_json:
            emit_json({"ok": False, "problems": [outcome], "manual": []})
            raise typer.Exit(1)
        fail(outcome)
    report = outcome
    if as_json:
        emit_json({"ok": not report.problems, "problems": report.problems, "manual": report.manual})
    elif report.problems:
        typer.echo(f"{display_url(url)}: {len(report.problems)} problem(s):")
        for problem in report.problems:
            typer.echo(f"  {problem}")
        if report.repairable:
            typer.echo("Run `pims-sync db upgrade` to repair them (what it cannot, it says).")
        if report.manual:
            typer.echo(f"{len(report.manual)} of them `pims-sync db upgrade` leaves to you.")
    else:
        typer.echo(f"{display_url(url)}: schema complete (revision {head_revision()}).")
    if report.problems:
        raise typer.Exit(1)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
