"""`pims-sync schedules list|set|remove`: a clinic's cron schedules (docs/deploy.md#schedules)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import (
    JsonOption,
    emit_json,
    fail,
    parse_id,
    print_table,
    settings_or_exit,
    with_services,
)
from pims_sync.domain.run_options import SCHEDULE_OPTIONS, options_hint
from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import ScheduleRules, parse_schedule
from pims_sync.errors import ScheduleError
from pims_sync.ports.schedules import ClinicScheduleConfig
from pims_sync.scheduling.status import jobs, problems

app = typer.Typer(
    name="schedules", help="List, set and remove clinics' sync schedules.", no_args_is_help=True
)

ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]
TypeOption = Annotated[
    SyncType, typer.Option("--type", help="inbound, cases, reconciliation or full.")
]


async def _config(services: Services, clinic_id: UUID) -> ClinicScheduleConfig:
    config = await services.schedules.get(clinic_id)
    if config is None:
        fail(f"clinic not found: {clinic_id}")
    return config


@app.command("list")
def list_schedules(
    clinic: Annotated[
        str | None, typer.Option("--clinic", help="The clinic's id (default: every clinic).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Each schedule with its next run and its last fire; invalid entries are reported."""
    clinic_id = None if clinic is None else parse_id(clinic, "--clinic")

    async def work(services: Services) -> dict[str, Any]:
        if clinic_id is not None:
            await _config(services, clinic_id)
        ids = None if clinic_id is None else [clinic_id]
        configs = await services.schedules.configs(ids)
        fires = await services.fires.latest(ids)
        now = datetime.now(UTC)
        rules = _rules(services)
        return {
            "jobs": [job.wire() for job in jobs(configs, fires, now, rules)],
            "invalid": [problem.wire() for problem in problems(configs, rules)],
        }

    found = with_services(work, upgrade_sqlite=True)
    if as_json:
        emit_json({"schedules": found["jobs"], "invalidSchedules": found["invalid"]})
        return
    rows = [_row(job) for job in found["jobs"]]
    print_table(
        "Schedules", ("clinic", "type", "cron", "enabled", "options", "next run", "last run"), rows
    )
    for problem in found["invalid"]:
        typer.echo(
            f"invalid: clinic {problem['clinicId']} schedule #{problem['index'] + 1}: "
            f"{problem['error']} (skipped)",
            err=True,
        )


def _rules(services: Services) -> ScheduleRules:
    """The scheduler's rules (the operator may use a seconds field)."""
    return ScheduleRules(services.settings.schedule_min_interval_seconds)


def _row(job: dict[str, Any]) -> tuple[str, ...]:
    return (
        job["clinicId"],
        job["type"],
        job["cron"],
        "yes" if job["enabled"] else "no",
        json.dumps(job["options"]) if job["options"] else "",
        job["nextRunAt"] or "",
        _last(job["lastRun"]),
    )


def _last(last: dict[str, Any] | None) -> str:
    if last is None:
        return ""
    text = f"{last['fireAt']} {last['status']}"
    return f"{text} ({last['reason']})" if last.get("reason") else text


def _options(raw: str | None) -> dict[str, Any]:
    if raw is None:
        return {}
    try:
        options = json.loads(raw)
    except json.JSONDecodeError as error:
        fail(f"--options is not valid JSON: {error.msg}")
    if not isinstance(options, dict):
        fail('--options must be a JSON object such as {"daysAhead": 7}')
    return options


@app.command("set")
def set_schedule(
    clinic: ClinicOption,
    sync_type: TypeOption,
    cron: Annotated[str, typer.Option("--cron", help='Cron in the clinic\'s zone: "0 6 * * *".')],
    disabled: Annotated[bool, typer.Option("--disabled", help="Store it switched off.")] = False,
    options: Annotated[
        str | None,
        typer.Option(
            "--options",
            help=f"JSON, e.g. '{{\"daysAhead\": 14}}'; {options_hint(SCHEDULE_OPTIONS)}.",
        ),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Add or replace the clinic's schedule of this type (running services pick it up)."""
    clinic_id = parse_id(clinic, "--clinic")
    entry: dict[str, Any] = {"type": sync_type.value, "cron": cron, "enabled": not disabled}
    entry["options"] = _options(options)
    rules = ScheduleRules(settings_or_exit().schedule_min_interval_seconds)
    try:
        schedule = parse_schedule(entry, rules)
    except ScheduleError as error:
        fail(str(error))

    async def work(services: Services) -> None:
        config = await _config(services, clinic_id)
        kept = [e for e in config.entries if not _of_type(e, sync_type)]
        await services.schedules.put(clinic_id, [*kept, schedule.as_json()])

    with_services(work, upgrade_sqlite=True)
    if as_json:
        emit_json({"clinicId": str(clinic_id), **schedule.as_json()})
    else:
        state = "disabled" if disabled else "enabled"
        typer.echo(f"{sync_type.value} schedule of clinic {clinic_id}: {schedule.cron} ({state})")


def _of_type(entry: object, sync_type: SyncType) -> bool:
    return isinstance(entry, dict) and entry.get("type") == sync_type.value


@app.command("remove")
def remove_schedule(
    clinic: ClinicOption, sync_type: TypeOption, as_json: bool = JsonOption
) -> None:
    """Remove the clinic's schedule of this type."""
    clinic_id = parse_id(clinic, "--clinic")

    async def work(services: Services) -> int:
        config = await _config(services, clinic_id)
        kept = [e for e in config.entries if not _of_type(e, sync_type)]
        removed = len(config.entries) - len(kept)
        if removed:
            await services.schedules.put(clinic_id, kept)
        return removed

    removed = with_services(work, upgrade_sqlite=True)
    if not removed:
        fail(f"clinic {clinic_id} has no {sync_type.value} schedule")
    if as_json:
        emit_json({"clinicId": str(clinic_id), "type": sync_type.value, "removed": True})
    else:
        typer.echo(f"removed the {sync_type.value} schedule of clinic {clinic_id}")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
