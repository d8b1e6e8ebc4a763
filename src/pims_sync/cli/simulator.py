"""`pims-sync simulator`: serve the local IDEXX Neo look-alike."""

from __future__ import annotations

from typing import Annotated

import typer

from pims_sync.simulator.config import DEFAULTS, MAX_CLINICS, Profile, SimulatorConfig


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.command("simulator")(simulator)


def simulator(
    host: str = typer.Option(DEFAULTS.host, help="Interface to listen on."),
    port: int = typer.Option(DEFAULTS.port, help="TCP port."),
    seed: int = typer.Option(DEFAULTS.seed, help="Same seed, same clinics and appointments."),
    clinics: int = typer.Option(
        DEFAULTS.clinics, min=1, max=MAX_CLINICS, help="Number of clinics."
    ),
    username: str = typer.Option(DEFAULTS.username, help="Login username (every clinic)."),
    password: str = typer.Option(DEFAULTS.password, help="Login password (every clinic)."),
    company_id: int = typer.Option(
        DEFAULTS.company_id, help="Company id of the first clinic; the next ones count up."
    ),
    latency_ms: int = typer.Option(
        DEFAULTS.latency_ms, min=0, help="Base latency added to every data endpoint."
    ),
    timezone: str = typer.Option(DEFAULTS.timezone, help="The clinics' IANA time zone."),
    profile: Annotated[
        Profile,
        typer.Option(help="standard, or wild: every trait of the real site on (docs/simulator.md)"),
    ] = DEFAULTS.profile,
) -> None:
    """Serve a local IDEXX Neo look-alike (login form, calendar, page-data, control API)."""
    from pims_sync.simulator.server import serve

    config = SimulatorConfig(
        host=host,
        port=port,
        seed=seed,
        clinics=clinics,
        username=username,
        password=password,
        company_id=company_id,
        latency_ms=latency_ms,
        timezone=timezone,
        profile="wild" if profile == "wild" else "standard",
    )
    base = f"http://{host}:{port}"
    typer.echo(f"IDEXX Neo simulator on {base}  (control API: {base}/__sim__/)")
    typer.echo(
        f"  seed {seed}, {clinics} clinic(s), time zone {timezone}, base latency {latency_ms} ms,"
        f" sessions idle {config.idle_minutes} min / absolute {config.absolute_hours} h,"
        f" profile {config.profile}"
    )
    for company in config.company_ids():
        typer.echo(f"  login: company_id {company}  username {username}  password {password}")
    serve(config)
