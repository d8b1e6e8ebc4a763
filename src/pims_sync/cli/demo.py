"""`pims-sync demo`: the whole service on one machine, against the built-in simulator.

It starts the IDEXX Neo simulator, creates a demo clinic (credentials pointing at the
simulator, the simulator's opening hours as its booking rules, an API key), serves the
HTTP API, runs a full sync *through that API* while printing its progress, prints the
results, the key and some `curl` lines (availability among them), and keeps serving until
Ctrl-C. The default database is its own SQLite file, recreated on every
run so the demo always starts from the same empty state.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import signal
import socket
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
import uvicorn
from rich.console import Console

from pims_sync.adapters.sql.migrate import display_url, upgrade_database
from pims_sync.api.app import create_app
from pims_sync.bootstrap import build_services
from pims_sync.cli.common import fail, settings_or_exit
from pims_sync.cli.console.client import ServiceClient
from pims_sync.cli.sync import ProgressBars, print_result
from pims_sync.domain.booking import BookingRules, parse_rules
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import DemoError, ServiceError
from pims_sync.logs import configure_logging
from pims_sync.settings import Settings
from pims_sync.shapes.results import FullResult
from pims_sync.shapes.runs import RunDetail
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.server import BackgroundSimulator

DEMO_DATABASE = Path("pims-sync-demo.db")
CLINIC_NAME = "Demo Veterinary Clinic"
CLINIC_TIMEZONE = "America/Los_Angeles"
HOST = "127.0.0.1"  # the demo prints a key: it is not for other machines to reach
# The simulator is local and fast; the production limit (10/s) protects the real IDEXX.
DEMO_RATE_LIMIT_PER_SECOND = 50.0
DEMO_SYNC = {"daysAhead": 7, "lookbackDays": 7}
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# The calendar columns the simulator books visits in (its rooms; the fifth is a doctor's).
DEMO_COLUMNS = 4


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the demo stops it itself on Ctrl-C."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        """Leave the signal handlers to the demo."""
        yield


def fresh_database(database_url: str | None) -> str:
    """The demo's database: the given URL as is, else its own SQLite file, emptied."""
    if database_url is not None:
        return database_url
    for suffix in ("", "-wal", "-shm", "-journal"):
        Path(f"{DEMO_DATABASE}{suffix}").unlink(missing_ok=True)
    return f"sqlite:///./{DEMO_DATABASE}"


def demo_settings(database_url: str, port: int) -> tuple[Settings, bool]:
    """Settings for the demo, and whether its encryption key was generated here."""
    overrides: dict[str, object] = {
        "database_url": database_url,
        "host": HOST,
        "port": port,
        "pims_rate_limit_per_second": DEMO_RATE_LIMIT_PER_SECOND,
    }
    settings = settings_or_exit(**overrides)
    if settings.dashboard_secret is None:
        # The dashboard's cookies need a secret; one made here lasts as long as the demo.
        overrides["dashboard_secret"] = secrets.token_urlsafe(32)
    if settings.encryption_key is not None:
        return settings_or_exit(**overrides), False
    return settings_or_exit(**overrides, encryption_key=secrets.token_urlsafe(32)), True


def listening_socket(port: int) -> socket.socket:
    """The API's socket, bound now so a busy port is a clear error before anything runs."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # asyncio turns Nagle off only on sockets it makes itself; accepted connections inherit
    # this, else every answer waits ~40 ms for the client's delayed ACK.
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        sock.bind((HOST, port))
    except OSError as error:
        sock.close()
        raise DemoError(f"port {port} is not free ({error.strerror}): try --port") from None
    return sock


async def create_demo_clinic(settings: Settings, simulator: BackgroundSimulator) -> tuple[str, str]:
    """The demo clinic with credentials for the simulator and an API key: (clinic id, key)."""
    services = build_services(settings)
    try:
        clinic = await services.clinics.add(name=CLINIC_NAME, timezone=CLINIC_TIMEZONE)
        config = simulator.config
        credentials = PimsCredentials(
            username=config.username,
            password=config.password,
            company_id=config.company_ids()[0],
            base_url=simulator.base_url,
        )
        await services.vault.save(clinic.id, credentials)
        await services.booking.put(clinic.id, demo_rules(simulator), at=datetime.now(UTC))
        _, key = await services.api_keys.create(clinic_id=clinic.id, name="demo")
    finally:
        await services.aclose()
    return str(clinic.id), key


def demo_rules(simulator: BackgroundSimulator) -> BookingRules:
    """The simulator's clinic as booking rules: its hours, rooms and visit lengths.

    08:00-19:00 every day, as its `getAppointmentView` says; its appointment columns.
    """
    clinic = simulator.simulation.world.clinics[0]
    return parse_rules(
        {
            "openingHours": {day: ["08:00-19:00"] for day in WEEKDAYS},
            "visitMinutes": {kind.name: max(kind.minutes, 15) for kind in clinic.types},
            "bookableResourceIds": [str(room.id) for room in clinic.rooms[:DEMO_COLUMNS]],
        }
    )


async def full_sync_over_http(base: str, key: str, bars: ProgressBars) -> RunDetail:
    """POST /api/sync/full (async), follow its events, then GET the finished run.

    Through the console's client: the same calls, events and error messages.
    """
    client = ServiceClient(base, key)
    try:
        started = await client.start_sync("full", DEMO_SYNC)
        with bars.shown():
            async for event in client.events(str(started.sync_id)):
                bars.show(event)
        return await client.run(str(started.sync_id))
    except ServiceError as error:
        raise DemoError(f"the sync through the API failed: {error.message}") from None
    finally:
        await client.aclose()


def print_intro(console: Console, settings: Settings, simulator: str, generated_key: bool) -> None:
    """Where everything runs."""
    console.print("[bold]pims-sync demo[/]: a full sync against the built-in IDEXX Neo simulator\n")
    note = " (recreated on each run)" if settings.database_url.endswith(str(DEMO_DATABASE)) else ""
    console.print(f"  database    {display_url(settings.database_url)}{note}")
    if generated_key:
        console.print("  encryption  a random key made for this demo (ENCRYPTION_KEY is not set);")
        console.print("              fine for a demo, not for production")
    console.print(f"  simulator   {simulator}  (IDEXX Neo look-alike)")
    console.print(f"  API         http://{HOST}:{settings.port}  (docs: /docs)", highlight=False)


def print_outro(console: Console, base: str, key: str, clinic_id: str, sign_in: str) -> None:
    """The key, the dashboard's sign-in link and what to try next."""
    console.print(f"\nAPI key of the demo clinic {clinic_id} (full access, shown once):")
    console.print(f"  {key}\n", highlight=False)
    console.print(f"Dashboard: {base}/dashboard (sign in with the key above), or open once:")
    console.print(f"  {base}{sign_in}\n", highlight=False, soft_wrap=True)
    console.print("Try:")
    lines = (
        f'curl -H "X-API-Key: {key}" {base}/api/sync/history',
        f'curl -H "X-API-Key: {key}" "{base}/api/availability?days=2&duration=30"',
        f'curl -H "X-API-Key: {key}" "{base}/api/availability/next?count=3&appointmentType=Exam"',
        f'curl -X POST -H "X-API-Key: {key}" -H "Content-Type: application/json" '
        f"-d '{{\"daysAhead\": 3}}' {base}/api/sync/full",
        f"curl {base}/health",
    )
    for line in lines:
        console.print(f"  {line}", highlight=False, soft_wrap=True)
    console.print(f"\nServing on {base} until Ctrl-C.")
    sys.stdout.flush()


def report_run(console: Console, detail: RunDetail) -> None:
    """The finished run's stats; DemoError saying why when it did not succeed."""
    result = detail.result
    if isinstance(result, dict) and "inboundResult" in result:
        console.print()
        full = FullResult.model_validate(result)
        print_result(full)
        if full.success:
            return
    error = detail.error or detail.model_dump_json(by_alias=True)
    browser = any(word in error.lower() for word in ("chromium", "browser", "executable"))
    hint = " (is Chromium installed? run scripts/ensure-chromium.sh)" if browser else ""
    raise DemoError(f"the full sync failed: {error}{hint}")


def simulator_on(port: int) -> BackgroundSimulator:
    """The simulator (not started yet) on this port, or DemoError if the port is taken."""
    try:
        return BackgroundSimulator(SimulatorConfig(host=HOST), port=port)
    except OSError as error:
        message = f"simulator port {port} is not free ({error.strerror}): try --simulator-port"
        raise DemoError(message) from None


async def wait_started(server: uvicorn.Server, serving: asyncio.Task[None]) -> None:
    """Return once uvicorn accepts connections; DemoError if it stopped instead."""
    while not server.started:
        if serving.done():
            raise DemoError("the API server did not start (see the messages above)")
        await asyncio.sleep(0.05)


async def serve_and_sync(
    settings: Settings, sock: socket.socket, key: str, clinic_id: str, console: Console
) -> None:
    """Serve the API, run the full sync through it, then serve until Ctrl-C or SIGTERM."""
    app = create_app(settings)
    # A one-time link (valid 10 minutes, used once): the key itself stays out of URLs.
    sign_in = f"/dashboard/sign-in?token={app.state.dashboard_links.issue(key)}"
    config = uvicorn.Config(
        app,
        log_config=None,
        log_level="warning",
        lifespan="on",
        server_header=False,
        timeout_graceful_shutdown=5,
    )
    server = _Server(config)
    serving = asyncio.create_task(server.serve(sockets=[sock]))
    stopped = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop() -> None:
        server.force_exit = server.should_exit  # a second Ctrl-C does not wait
        server.should_exit = True
        stopped.set()

    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop)
    try:
        await wait_started(server, serving)
        await sync_until_stopped(settings, (key, sign_in), clinic_id, console, stopped)
        await serving
    finally:
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(signum)
        server.should_exit = True
        await asyncio.wait({serving})


async def sync_until_stopped(
    settings: Settings,
    access: tuple[str, str],
    clinic_id: str,
    console: Console,
    stopped: asyncio.Event,
) -> None:
    """The full sync and its report, unless Ctrl-C comes first (then nothing more).

    `access` is the demo key and the dashboard's one-time sign-in path for it.
    """
    key, sign_in = access
    base = f"http://{HOST}:{settings.port}"
    console.print(f"\nRunning a full sync through the API: POST {base}/api/sync/full")
    syncing = asyncio.create_task(full_sync_over_http(base, key, ProgressBars(console)))
    stopping = asyncio.create_task(stopped.wait())
    await asyncio.wait({syncing, stopping}, return_when=asyncio.FIRST_COMPLETED)
    stopping.cancel()
    if not syncing.done():
        syncing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await syncing
        return
    report_run(console, syncing.result())
    print_outro(console, base, key, clinic_id, sign_in)


async def run_demo(settings: Settings, simulator_port: int, generated_key: bool) -> None:
    """Everything the demo does, from the simulator to Ctrl-C."""
    console = Console(highlight=False, soft_wrap=True)
    sock = listening_socket(settings.port)
    try:
        with simulator_on(simulator_port) as simulator:
            print_intro(console, settings, simulator.base_url, generated_key)
            clinic_id, key = await create_demo_clinic(settings, simulator)
            await serve_and_sync(settings, sock, key, clinic_id, console)
    finally:
        sock.close()
    console.print("Stopped.")


def demo(
    port: Annotated[int, typer.Option("--port", help="Port of the HTTP API.")] = 3001,
    simulator_port: Annotated[
        int, typer.Option("--simulator-port", help="Port of the IDEXX Neo simulator.")
    ] = 8780,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="Use this database (kept as is) instead of ./pims-sync-demo.db (recreated).",
        ),
    ] = None,
) -> None:
    """Run a full sync against the built-in simulator, then serve the API until Ctrl-C."""
    settings, generated_key = demo_settings(fresh_database(database_url), port)
    try:
        upgrade_database(settings.database_url)
    except Exception as error:  # noqa: BLE001 - any failure here is one line for a newcomer
        fail(f"could not prepare the database {display_url(settings.database_url)}: {error}")
    configure_logging("warning")
    try:
        asyncio.run(run_demo(settings, simulator_port, generated_key))
    except DemoError as error:
        fail(str(error))
    except KeyboardInterrupt:  # Ctrl-C before the server took over the signal
        typer.echo("Stopped.")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.command("demo")(demo)
