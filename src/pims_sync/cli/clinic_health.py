"""`pims-sync clinics freshness|pause|resume|set`: a clinic's freshness and self-protection.

See docs/freshness.md: statuses, thresholds, pause rules, the login budget, resuming.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any
from uuid import UUID

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import JsonOption, emit_json, fail, format_time, parse_id, with_services
from pims_sync.domain.freshness import duration
from pims_sync.domain.health import BOUNDS, ClinicHealth, Limit, PauseKind, PauseReason
from pims_sync.errors import NotFoundError
from pims_sync.shapes.freshness import ClinicFreshnessOut

ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]
DEFAULT = "default"
LIMIT_HELP = "a number, or 'default' for the service's"


def _limit_option(flag: str, what: str) -> Any:
    return typer.Option(flag, help=f"{what}: {LIMIT_HELP}.")


async def _clinic(services: Services, clinic_id: UUID) -> None:
    if await services.clinics.get(clinic_id) is None:
        raise NotFoundError(f"no clinic with id {clinic_id} (see `pims-sync clinics list`)")


async def _status(services: Services, clinic_id: UUID) -> dict[str, Any]:
    """The clinic's freshness, its own limits and today's logins, as `--json` prints them."""
    now = datetime.now(UTC)
    found = await services.health.freshness(at=now, clinic_ids=[clinic_id])
    if not found:
        raise NotFoundError(f"clinic {clinic_id} is deactivated: it has no freshness")
    health = await services.health.health(clinic_id)
    logins = await services.ledger.logins(clinic_id, now.date())
    return {
        **ClinicFreshnessOut.of(found[0]).wire(),
        "limits": _limits(services, health),
        "loginsToday": logins,
    }


def _limits(services: Services, health: ClinicHealth) -> dict[str, Any]:
    settings = health.settings
    return {
        "warnAfterFailures": settings.warn_after,
        "pauseAfterFailures": settings.pause_after,
        "dailyLoginBudget": settings.login_budget(services.settings.pims_daily_login_budget),
        "ownThresholds": {p.value: v for p, v in settings.thresholds.items() if v is not None},
    }


def _print_status(status: dict[str, Any]) -> None:
    typer.echo(f"clinic {status['clinicId']}: {status['status']}")
    if status["reason"]:
        typer.echo(f"  why: {status['reason']}")
    typer.echo(f"  runs failed in a row: {status['consecutiveFailures']}")
    for phase in ("inbound", "cases", "reconciliation"):
        item = status[phase]
        age = "never" if item["ageSeconds"] is None else f"{duration(item['ageSeconds'])} ago"
        typer.echo(
            f"  {phase}: last success {age} (stale after {duration(item['thresholdSeconds'])})"
        )
    limits = status["limits"]
    typer.echo(
        f"  warn after {limits['warnAfterFailures']} failures, pause after "
        f"{limits['pauseAfterFailures']} (0: never); logins today "
        f"{status['loginsToday']} of {limits['dailyLoginBudget']}"
    )


def freshness(clinic: ClinicOption, as_json: bool = JsonOption) -> None:
    """A clinic's status (fresh, stale, failing, paused), each phase's last success, limits."""
    clinic_id = parse_id(clinic, "--clinic")

    async def _read(services: Services) -> dict[str, Any]:
        await _clinic(services, clinic_id)
        return await _status(services, clinic_id)

    status = with_services(_read, upgrade_sqlite=True)
    if as_json:
        emit_json(status)
    else:
        _print_status(status)


def resume(clinic: ClinicOption, as_json: bool = JsonOption) -> None:
    """Resume a paused clinic: its schedules fire again, runs are taken, failures start at 0."""
    clinic_id = parse_id(clinic, "--clinic")

    async def _resume(services: Services) -> tuple[ClinicHealth, bool]:
        await _clinic(services, clinic_id)
        before = await services.health.health(clinic_id)
        done = await services.health.resume(
            clinic_id=clinic_id, at=datetime.now(UTC), by="the command line"
        )
        return before, done

    before, done = with_services(_resume, upgrade_sqlite=True)
    pause = before.pause
    if as_json:
        emit_json({"clinicId": str(clinic_id), "resumed": done, "wasPaused": before.paused})
    elif done and pause is not None:
        since = format_time(before.paused_at)
        typer.echo(f"Clinic {clinic_id} resumed (paused since {since}: {pause.text}).")
    else:
        typer.echo(f"Clinic {clinic_id} is not paused: nothing to resume.")


def pause(
    clinic: ClinicOption,
    reason: Annotated[
        str, typer.Option("--reason", help="Why, as `clinics freshness` will say it.")
    ] = "paused by hand",
    as_json: bool = JsonOption,
) -> None:
    """Pause a clinic: no schedule fires and every run is refused until `clinics resume`."""
    clinic_id = parse_id(clinic, "--clinic")
    why = " ".join(reason.split())
    if not why:
        fail("--reason must not be empty")

    async def _pause(services: Services) -> bool:
        await _clinic(services, clinic_id)
        cause = PauseReason(PauseKind.OPERATOR, why[:300])
        return await services.health.pause(clinic_id=clinic_id, reason=cause, at=datetime.now(UTC))

    done = with_services(_pause, upgrade_sqlite=True)
    if as_json:
        emit_json({"clinicId": str(clinic_id), "paused": True, "pausedNow": done})
    elif done:
        typer.echo(f"Clinic {clinic_id} paused: {why}.")
    else:
        typer.echo(f"Clinic {clinic_id} was already paused (its reason is kept).")


def _parsed(flag: str, value: str | None) -> tuple[bool, int | None]:
    """(given, value): `default` is None (the service's), a number is itself."""
    if value is None:
        return False, None
    if value.strip().lower() == DEFAULT:
        return True, None
    try:
        return True, int(value.strip())
    except ValueError:
        fail(f"{flag} must be a whole number or '{DEFAULT}', got {value!r}")


def set_limits(
    clinic: ClinicOption,
    inbound: Annotated[
        str | None, _limit_option("--freshness-inbound", "seconds before inbound is stale")
    ] = None,
    cases: Annotated[
        str | None, _limit_option("--freshness-cases", "seconds before cases is stale")
    ] = None,
    reconciliation: Annotated[
        str | None,
        _limit_option("--freshness-reconciliation", "seconds before reconciliation is stale"),
    ] = None,
    warn_after: Annotated[
        str | None, _limit_option("--warn-after", "failures in a row that warn (0: never)")
    ] = None,
    pause_after: Annotated[
        str | None, _limit_option("--pause-after", "failures in a row that pause (0: never)")
    ] = None,
    login_budget: Annotated[
        str | None, _limit_option("--login-budget", "fresh PIMS logins per UTC day")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Set a clinic's own freshness thresholds and limits (others keep their value)."""
    clinic_id = parse_id(clinic, "--clinic")
    given = {
        Limit.INBOUND_THRESHOLD: ("--freshness-inbound", inbound),
        Limit.CASES_THRESHOLD: ("--freshness-cases", cases),
        Limit.RECONCILIATION_THRESHOLD: ("--freshness-reconciliation", reconciliation),
        Limit.WARN_AFTER: ("--warn-after", warn_after),
        Limit.PAUSE_AFTER: ("--pause-after", pause_after),
        Limit.LOGIN_BUDGET: ("--login-budget", login_budget),
    }
    limits = {}
    for limit, (flag, raw) in given.items():
        named, value = _parsed(flag, raw)
        low, high = BOUNDS[limit]
        if value is not None and not low <= value <= high:
            fail(f"{flag} must be from {low} to {high} (or '{DEFAULT}'), got {value}")
        if named:
            limits[limit] = value
    if not limits:
        fail("name at least one limit to set (see --help)")

    async def _set(services: Services) -> dict[str, Any]:
        await _clinic(services, clinic_id)
        await services.health.configure(clinic_id=clinic_id, limits=limits)
        return await _status(services, clinic_id)

    status = with_services(_set, upgrade_sqlite=True)
    if as_json:
        emit_json(status)
    else:
        _print_status(status)


def add_commands(app: typer.Typer) -> None:
    """Add these commands to `pims-sync clinics`."""
    app.command("freshness")(freshness)
    app.command("pause")(pause)
    app.command("resume")(resume)
    app.command("set")(set_limits)
