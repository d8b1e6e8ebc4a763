"""`pims-sync booking show|set`: a clinic's booking rules (docs/availability.md#booking-rules)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from uuid import UUID

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import JsonOption, emit_json, fail, parse_id, with_services
from pims_sync.domain.booking import WEEKDAYS, BookingRules, parse_rules, rules_document
from pims_sync.errors import InvalidInputError
from pims_sync.ports.booking import BookingConfig
from pims_sync.shapes.booking import BookingConfigOut

app = typer.Typer(
    name="booking", help="Show and set clinics' booking rules (availability).", no_args_is_help=True
)

ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]
CLOSED = "closed"


async def _config(services: Services, clinic_id: UUID) -> BookingConfig:
    if await services.clinics.get(clinic_id) is None:
        fail(f"clinic not found: {clinic_id}")
    return await services.booking.get(clinic_id)


def _hours(intervals: list[str]) -> str:
    return ", ".join(intervals) or CLOSED


def describe(config: BookingConfig) -> list[str]:
    """The rules as a few lines of text."""
    doc = rules_document(config.rules)
    origin = "defaults: none set" if config.is_default else f"set {config.updated_at:%Y-%m-%d}"
    lines = [f"Booking rules of clinic {config.clinic_id} ({origin})"]
    lines += [f"  {day:<10} {_hours(doc['openingHours'][day])}" for day in WEEKDAYS]
    lines += [f"  {day:<10} {_hours(hours)}" for day, hours in doc["exceptions"].items()]
    visits = ", ".join(f"{kind} {minutes} min" for kind, minutes in doc["visitMinutes"].items())
    columns = ", ".join(doc["bookableResourceIds"]) or "every column"
    lines += [
        f"  slots every {doc['slotMinutes']} min" + (f"; visits: {visits}" if visits else ""),
        f"  columns: {columns}; rosters "
        + ("define who works" if doc["rostersDefineWorking"] else "are not looked at"),
        f"  buffers {doc['bufferBeforeMinutes']} min before, {doc['bufferAfterMinutes']} after; "
        f"notice {doc['minNoticeMinutes']} min; up to {doc['maxDaysAhead']} days ahead",
    ]
    return lines


@app.command("show")
def show(clinic: ClinicOption, as_json: bool = JsonOption) -> None:
    """The clinic's booking rules (the defaults until some are set)."""
    clinic_id = parse_id(clinic, "--clinic")
    config = with_services(lambda services: _config(services, clinic_id), upgrade_sqlite=True)
    if as_json:
        emit_json(BookingConfigOut.of(config).wire())
        return
    for line in describe(config):
        typer.echo(line)


def _document(raw: str) -> dict[str, Any]:
    """`--rules`: a JSON object, or @path to a file holding one."""
    text = raw
    if raw.startswith("@"):
        try:
            text = Path(raw[1:]).read_text(encoding="utf-8")
        except OSError as error:
            fail(f"--rules: cannot read {raw[1:]}: {error.strerror}")
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        fail(f"--rules is not valid JSON: {error.msg}")
    if not isinstance(document, dict):
        fail('--rules must be a JSON object such as {"slotMinutes": 15}')
    return document


def _pairs(values: list[str], option: str) -> list[tuple[str, str]]:
    pairs = []
    for value in values:
        name, sep, rest = value.partition("=")
        if not sep or not name.strip():
            fail(f"{option} takes NAME=VALUE, got {value!r}")
        pairs.append((name.strip(), rest.strip()))
    return pairs


def _intervals(text: str) -> list[str]:
    return [] if text.lower() == CLOSED else [part.strip() for part in text.split(",")]


def _whole(text: str, option: str) -> int:
    if not text.isdigit():
        fail(f"{option} must be a whole number, got {text!r}")
    return int(text)


def _changed(document: dict[str, Any], changes: dict[str, Any]) -> BookingRules:
    """The document with the options' changes, read as rules (or exit naming the problem)."""
    week = document.get("openingHours", rules_document(BookingRules())["openingHours"])
    for day, text in changes.pop("hours"):
        week = {**week, day.lower(): _intervals(text)}
    if changes.pop("hours_given"):
        document["openingHours"] = week
    exceptions = dict(document.get("exceptions", {}))
    exceptions.update({day: _intervals(text) for day, text in changes.pop("exceptions")})
    if exceptions:
        document["exceptions"] = exceptions
    visits = dict(document.get("visitMinutes", {}))
    visits.update({kind: _whole(n, "--visit-minutes") for kind, n in changes.pop("visits")})
    if visits:
        document["visitMinutes"] = visits
    document.update({key: value for key, value in changes.items() if value is not None})
    try:
        return parse_rules(document)
    except InvalidInputError as error:
        fail(str(error))


@app.command("set")
def set_rules(
    clinic: ClinicOption,
    rules: Annotated[
        str | None,
        typer.Option("--rules", help="The whole rules as JSON, or @file.json (left out: keep)."),
    ] = None,
    hours: Annotated[
        list[str] | None,
        typer.Option("--hours", help="DAY=HH:MM-HH:MM[,HH:MM-HH:MM] or DAY=closed; repeatable."),
    ] = None,
    exception: Annotated[
        list[str] | None,
        typer.Option("--exception", help="YYYY-MM-DD=HH:MM-HH:MM[,…] or =closed; repeatable."),
    ] = None,
    slot_minutes: Annotated[int | None, typer.Option("--slot-minutes")] = None,
    visit_minutes: Annotated[
        list[str] | None, typer.Option("--visit-minutes", help="TYPE=MINUTES; repeatable.")
    ] = None,
    bookable: Annotated[
        str | None,
        typer.Option("--bookable-resources", help="Column ids, comma-separated; '' for every one."),
    ] = None,
    buffer_before: Annotated[int | None, typer.Option("--buffer-before")] = None,
    buffer_after: Annotated[int | None, typer.Option("--buffer-after")] = None,
    min_notice: Annotated[int | None, typer.Option("--min-notice")] = None,
    days_ahead: Annotated[int | None, typer.Option("--days-ahead")] = None,
    rosters: Annotated[
        bool | None,
        typer.Option("--rosters-define-working/--rosters-ignored", help="Rosters limit columns."),
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Change the clinic's rules: `--rules` replaces them, the other options change one rule."""
    clinic_id = parse_id(clinic, "--clinic")
    given = None if rules is None else _document(rules)
    changes: dict[str, Any] = {
        "hours": _pairs(hours or [], "--hours"),
        "hours_given": bool(hours),
        "exceptions": _pairs(exception or [], "--exception"),
        "visits": _pairs(visit_minutes or [], "--visit-minutes"),
        "slotMinutes": slot_minutes,
        "bookableResourceIds": None
        if bookable is None
        else [part.strip() for part in bookable.split(",") if part.strip()],
        "bufferBeforeMinutes": buffer_before,
        "bufferAfterMinutes": buffer_after,
        "minNoticeMinutes": min_notice,
        "maxDaysAhead": days_ahead,
        "rostersDefineWorking": rosters,
    }

    async def work(services: Services) -> BookingConfig:
        current = await _config(services, clinic_id)
        document = given if given is not None else rules_document(current.rules)
        return await services.booking.put(
            clinic_id, _changed(dict(document), changes), at=datetime.now(UTC)
        )

    config = with_services(work, upgrade_sqlite=True)
    if as_json:
        emit_json(BookingConfigOut.of(config).wire())
        return
    for line in describe(config):
        typer.echo(line)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
