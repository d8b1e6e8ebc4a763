"""`pims-sync doctor --clinic ID`: the shape of a clinic's PIMS, with no personal data.

What an operator sends us when the real site differs from what the service expects
(docs/doctor.md). Exit 0 when the login and the calendar worked, 1 otherwise.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Annotated

import typer

from pims_sync.adapters.idexx.shape import explain, merge_types
from pims_sync.bootstrap import Services
from pims_sync.cli.common import JsonOption, emit_json, fail, parse_id, with_services
from pims_sync.errors import NotFoundError, PimsBrowserUnavailableError

if TYPE_CHECKING:
    from pims_sync.adapters.idexx.doctor import ConsultationResult, DoctorReport, LoginSection
    from pims_sync.adapters.idexx.probe import Exchange
    from pims_sync.adapters.idexx.shape import CalendarShape

ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]
DateOption = Annotated[
    str | None,
    typer.Option("--date", help="The day to read, YYYY-MM-DD (default: the clinic's today)."),
]


def register(root: typer.Typer) -> None:
    """Add `doctor` to the root command."""
    root.command("doctor")(doctor)


def doctor(clinic: ClinicOption, day: DateOption = None, as_json: bool = JsonOption) -> None:
    """Log in, read one day and up to 3 consultations, print their shape (no personal data)."""
    # Imported here so that the other commands start without loading Playwright.
    from pims_sync.adapters.idexx.config import IdexxOptions
    from pims_sync.adapters.idexx.doctor import examine
    from pims_sync.ports.provider import ClinicLogin

    clinic_id = parse_id(clinic, "--clinic")
    wanted = _parse_day(day)

    async def _examine(services: Services) -> DoctorReport:
        record = await services.clinics.get(clinic_id)
        if record is None:
            raise NotFoundError(f"no clinic with id {clinic_id} (see `pims-sync clinics list`)")
        login = ClinicLogin(clinic_id, await services.vault.load(clinic_id), record.timezone)
        return await examine(IdexxOptions.from_settings(services.settings), login, wanted)

    report = with_services(_examine, upgrade_sqlite=True)
    problem = report.problem
    if as_json:
        emit_json(report_json(report))
    elif problem is None or problem.code != PimsBrowserUnavailableError.code:
        typer.echo(report_text(report))  # no browser: nothing about the PIMS to show, one line
    if problem is not None:
        fail(problem.message)


def _parse_day(value: str | None) -> date | None:
    if value is None:
        return None
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        fail(f"--date must be a day as YYYY-MM-DD, got {value!r}")


# --- JSON ------------------------------------------------------------------------------------


def report_json(report: DoctorReport) -> dict[str, object]:
    """The report as one JSON object."""
    problem = report.problem
    return {
        "ok": report.ok,
        "error": None
        if problem is None
        else {"stage": problem.stage, "code": problem.code, "message": problem.message},
        "clinicId": report.clinic_id,
        "date": report.day.isoformat(),
        "timezone": report.timezone,
        "pims": report.origin,
        "login": _login_json(report.login),
        "endpoints": [_exchange_json(exchange) for exchange in report.exchanges],
        "calendar": None if report.calendar is None else _calendar_json(report.calendar),
        "consultations": _consultations_json(report),
        "traits": [{"trait": name, "meaning": explain(name)} for name in report.traits()],
    }


def _login_json(login: LoginSection) -> dict[str, object]:
    trace = login.trace
    return {
        "ok": login.ok,
        "milliseconds": login.milliseconds,
        "steps": [{"name": step.name, "milliseconds": step.milliseconds} for step in trace.steps],
        "redirects": trace.redirects,
        "landingPath": trace.landing_path,
        "cookieNames": login.cookie_names or trace.cookie_names,
        "hiddenFields": trace.hidden_fields,
        "loginPageInputs": [{"name": i.name, "type": i.type} for i in login.raw_form_inputs],
    }


def _exchange_json(exchange: Exchange) -> dict[str, object]:
    return {
        "endpoint": exchange.endpoint,
        "status": exchange.status,
        "statuses": exchange.statuses,
        "redirects": exchange.redirects,
        "contentType": exchange.content_type,
        "bytes": exchange.size,
        "milliseconds": exchange.milliseconds,
        "error": exchange.error,
    }


def _calendar_json(shape: CalendarShape) -> dict[str, object]:
    return {
        "envelope": shape.envelope,
        "envelopeKeys": shape.envelope_keys,
        "events": shape.events,
        "notObjects": shape.not_objects,
        "fields": {
            name: {"types": sorted(entry.types), "nullRate": entry.null_rate(), "in": entry.present}
            for name, entry in sorted(shape.fields.items())
        },
        "values": {name: sorted(values) for name, values in sorted(shape.values.items())},
        "noted": dict(sorted(shape.counts.items())),
    }


def _consultations_json(report: DoctorReport) -> dict[str, object]:
    results = report.consultations
    return {
        "day": report.consultations_day.isoformat() if report.consultations_day else None,
        "asked": len(results),
        "read": sum(result.shape is not None for result in results),
        "refused": sum(result.outcome.startswith("refused") for result in results),
        "notFound": sum(result.exchange.status == 404 for result in results),
        "items": [_consultation_json(result) for result in results],
    }


def _consultation_json(result: ConsultationResult) -> dict[str, object]:
    shape = result.shape
    item: dict[str, object] = {
        "outcome": result.outcome,
        "status": result.exchange.status,
        "contentType": result.exchange.content_type,
        "bytes": result.exchange.size,
    }
    if shape is not None:
        item["notesFoundIn"] = shape.notes_found_in
        item["topLevelKeys"] = _types_json(shape.top_keys)
        item["consultationKeys"] = _types_json(shape.consultation_keys)
    return item


def _types_json(types: dict[str, set[str]]) -> dict[str, list[str]]:
    return {key: sorted(found) for key, found in sorted(types.items())}


# --- text ------------------------------------------------------------------------------------


def report_text(report: DoctorReport) -> str:
    """The report as readable text."""
    lines = _head_lines(report) + _login_lines(report.login) + _exchange_lines(report)
    if report.calendar is not None:
        lines += _calendar_lines(report.calendar)
    lines += _consultation_lines(report) + _trait_lines(report)
    return "\n".join(lines)


def _head_lines(report: DoctorReport) -> list[str]:
    problem = report.problem
    verdict = (
        "OK (login and calendar worked)"
        if problem is None
        else f"FAILED at {problem.stage}: {problem.message} [{problem.code}]"
    )
    return [
        f"IDEXX Neo shape report for clinic {report.clinic_id}",
        f"  PIMS {report.origin}, day {report.day.isoformat()} ({report.timezone})",
        f"  result: {verdict}",
        "",
    ]


def _login_lines(login: LoginSection) -> list[str]:
    trace = login.trace
    steps = " · ".join(f"{step.name} {step.milliseconds} ms" for step in trace.steps)
    inputs = ", ".join(f"{i.name or '(no name)'} ({i.type})" for i in login.raw_form_inputs)
    return [
        f"Login: {'OK' if login.ok else 'failed'} in {login.milliseconds} ms",
        f"  steps: {steps or '-'}",
        f"  redirect chain after submit: {' -> '.join(trace.redirects) or '-'}",
        f"  landing path: {trace.landing_path or '-'}",
        f"  cookie names: {', '.join(login.cookie_names or trace.cookie_names) or '-'}",
        f"  hidden form fields: {', '.join(trace.hidden_fields) or '-'}",
        f"  login page inputs (raw HTML, before scripts): {inputs or 'none'}",
        "",
    ]


def _exchange_lines(report: DoctorReport) -> list[str]:
    lines = ["Endpoints (status, content type, size, time)"]
    for exchange in report.exchanges:
        statuses = " -> ".join(str(status) for status in exchange.statuses) or "-"
        line = (
            f"  {exchange.endpoint:<24} {statuses:<10} {exchange.content_type or '-':<32} "
            f"{exchange.size:>9} B {exchange.milliseconds:>6} ms"
        )
        if exchange.redirects:
            line += f"  via {' -> '.join(exchange.redirects)}"
        if exchange.error:
            line += f"  ({exchange.error})"
        lines.append(line)
    return [*lines, ""]


def _calendar_lines(shape: CalendarShape) -> list[str]:
    lines = [f"Calendar: {shape.envelope}, {shape.events} events"]
    if shape.envelope_keys:
        lines.append(f"  top-level keys: {', '.join(shape.envelope_keys)}")
    if shape.not_objects:
        lines.append(f"  items that are not objects: {shape.not_objects}")
    if shape.counts:
        marks = ", ".join(f"{mark} {count}" for mark, count in sorted(shape.counts.items()))
        lines.append(f"  noted: {marks}")
    if shape.fields:
        lines.append(f"  {'field':<26} {'JSON types':<22} {'null rate':>9}  in events")
    for name, entry in sorted(shape.fields.items()):
        types = ", ".join(sorted(entry.types))
        lines.append(f"  {name:<26} {types:<22} {entry.null_rate():>9.2f}  {entry.present}")
    for name, values in sorted(shape.values.items()):
        lines.append(f"  values of {name}: {', '.join(sorted(values))}")
    return [*lines, ""]


def _consultation_lines(report: DoctorReport) -> list[str]:
    results = report.consultations
    if not results:
        return ["Consultations: none found on the day or the 7 days before", ""]
    day = report.consultations_day.isoformat() if report.consultations_day else "?"
    lines = [f"Consultations ({len(results)} from {day})"]
    top: dict[str, set[str]] = {}
    inner: dict[str, set[str]] = {}
    for number, result in enumerate(results, start=1):
        where = ""
        if result.shape is not None:
            places = ", ".join(result.shape.notes_found_in)
            where = ": no notes" if places == "none" else f": notes in {places}"
            merge_types(top, result.shape.top_keys)
            merge_types(inner, result.shape.consultation_keys)
        lines.append(f"  #{number} {result.outcome}{where}")
    if top:
        lines.append(f"  top-level keys: {_types_text(top)}")
        lines.append(f"  consultation keys: {_types_text(inner) or '-'}")
    return [*lines, ""]


def _types_text(types: dict[str, set[str]]) -> str:
    return ", ".join(f"{key} ({'|'.join(sorted(found))})" for key, found in sorted(types.items()))


def _trait_lines(report: DoctorReport) -> list[str]:
    traits = report.traits()
    lines = [f"Traits met ({len(traits)}; each is tolerated)"]
    lines += [f"  - {trait}: {explain(trait)}" for trait in traits] or ["  none"]
    return lines
