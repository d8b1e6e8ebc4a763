"""`pims-sync history`: a clinic's recent runs with their stats and success rate."""

from __future__ import annotations

from typing import Annotated

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import (
    JsonOption,
    emit_json,
    format_time,
    parse_id,
    print_table,
    with_services,
)
from pims_sync.cli.sync import stats_text
from pims_sync.domain.runs import RunRecord, RunStatus, SyncType
from pims_sync.shapes.runs import History


def history(
    clinic: Annotated[str, typer.Option("--clinic", help="The clinic's id.")],
    limit: Annotated[int, typer.Option("--limit", min=1, max=100, help="How many runs.")] = 20,
    sync_type: Annotated[
        SyncType | None, typer.Option("--type", case_sensitive=False, help="The runs' type.")
    ] = None,
    status: Annotated[
        RunStatus | None, typer.Option("--status", case_sensitive=False, help="Their status.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """List a clinic's recent runs, newest first."""
    clinic_id = parse_id(clinic, "--clinic")

    async def _list(services: Services) -> list[RunRecord]:
        return await services.runs.history(
            clinic_id=clinic_id,
            limit=limit,
            sync_type=sync_type,
            status=status,
        )

    records = with_services(_list, upgrade_sqlite=True)
    body = History.of(records).wire()
    if as_json:
        emit_json(body)
        return
    if not records:
        typer.echo("No runs yet: start one with `pims-sync sync full --clinic ID`.", err=True)
        return
    rows = [
        (
            run["syncId"],
            run["type"],
            run["status"],
            run["triggeredBy"],
            format_time(record.started_at),
            f"{run['durationMs'] / 1000:.1f} s",
            run["error"] or stats_text({k: v for k, v in run["stats"].items() if v}),
        )
        for run, record in zip(body["runs"], records, strict=True)
    ]
    columns = ("id", "type", "status", "by", "started", "took", "stats / error")
    print_table("Sync history", columns, rows)
    rate = body["successRate"]
    if rate is not None:
        typer.echo(f"Success rate: {rate:g}% of {sum(r.finished for r in records)} finished run(s)")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.command("history")(history)
