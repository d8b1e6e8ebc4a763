"""`pims-sync sync inbound|cases|reconcile|full`: run a sync now, in this process.

Options are named, described and checked by their declarations (`domain/run_options.py`),
as the HTTP bodies are, so the CLI and the API accept exactly the same values. Progress
comes from the run's event bus: one bar per phase with the current action; then a table
of the stats.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Iterator, Mapping
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

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
from pims_sync.cli.console.client import Event
from pims_sync.domain.run_options import (
    DAYS_AHEAD,
    DRY_RUN,
    END_DATE,
    FORCE,
    LOOKBACK_DAYS,
    PARALLEL_BATCH_SIZE,
    START_DATE,
    CountOption,
    FlagOption,
    RunOption,
    attribute,
    parse_typed,
)
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import ConfigError, OptionError
from pims_sync.logs import configure_logging
from pims_sync.shapes.results import AnyPhaseResult, FullResult, RunResult, stats_json
from pims_sync.sync.events import RunEvent
from pims_sync.sync.request import request_from_options

app = typer.Typer(
    name="sync",
    help="Run a sync now, in this process, with progress bars (needs ENCRYPTION_KEY).",
    no_args_is_help=True,
)


def flag(name: str) -> str:
    """The command-line name of a run option: `daysAhead` → `--days-ahead`."""
    return "--" + attribute(name).replace("_", "-")


def cli_option(option: RunOption) -> Any:
    """A typer option named, described and bounded by the option's declaration."""
    if isinstance(option, FlagOption):
        return typer.Option(flag(option.name), help=f"{option.description}.")
    metavar = "N" if isinstance(option, CountOption) else "YYYY-MM-DD"
    help_text = f"{option.description} ({option.hint})."
    return typer.Option(flag(option.name), metavar=metavar, help=help_text)


ClinicOpt = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]
# Typed values stay text here: the declaration parses them, with the API's words.
StartOpt = Annotated[str | None, cli_option(START_DATE)]
EndOpt = Annotated[str | None, cli_option(END_DATE)]
AheadOpt = Annotated[str | None, cli_option(DAYS_AHEAD)]
BackOpt = Annotated[str | None, cli_option(LOOKBACK_DAYS)]
ParallelOpt = Annotated[str | None, cli_option(PARALLEL_BATCH_SIZE)]
ForceOpt = Annotated[bool, cli_option(FORCE)]
DryRunOpt = Annotated[bool, cli_option(DRY_RUN)]
# After the run ends, events still in flight get this long to reach the bars.
DRAIN_SECONDS = 0.5


def checked_options(values: Mapping[str, str | bool | None]) -> dict[str, object]:
    """The options given, checked by their declarations (or exit 1 naming the option)."""
    typed = {name: value for name, value in values.items() if isinstance(value, str)}
    try:
        checked = parse_typed(typed)
    except OptionError as error:
        fail(f"{flag(error.option)}: {error.rule}")
    return checked | {name: True for name, value in values.items() if value is True}


def words(name: str) -> str:
    """`casesCreated` → `cases created`."""
    return re.sub(r"(?<!^)([A-Z])", r" \1", name).lower()


def stats_text(stats: Mapping[str, Any]) -> str:
    """Counters on one line: `appointments found 25, cases created 18`."""
    return ", ".join(f"{words(name)} {value}" for name, value in stats.items())


def phase_results(result: RunResult) -> list[tuple[str, AnyPhaseResult]]:
    """(phase, phase result) pairs of a result: three for a full run, else one."""
    if isinstance(result, FullResult):
        return [
            ("inbound", result.inbound_result),
            ("cases", result.cases_result),
            ("reconciliation", result.reconciliation_result),
        ]
    return [(result.stats.phase.value, result)]


def phase_status(phase: AnyPhaseResult) -> str:
    """`ok`, `skipped` or `failed: <why>`."""
    if phase.skipped:
        return "skipped"
    if phase.success:
        return "ok"
    return f"failed: {phase.error or 'see errors'}"


def print_result(result: RunResult) -> None:
    """The stats table of a finished run."""
    rows = [
        (phase, phase_status(part), stats_text(stats_json(part.stats)))
        for phase, part in phase_results(result)
    ]
    print_table("Sync result", ("phase", "status", "stats"), rows)
    seconds = (result.duration_ms or 0) / 1000
    outcome = "completed" if result.success else "finished with failures"
    typer.echo(f"Sync {result.sync_id} {outcome} in {seconds:.1f} s.")


class ProgressBars:
    """One rich bar per phase, fed by run events; plain lines when not on a terminal."""

    def __init__(self, console: Console, *, quiet: bool = False) -> None:
        self.console = console
        self.quiet = quiet
        self.live = console.is_terminal and not quiet
        self.progress = Progress(
            TextColumn("{task.description:<15}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            TimeElapsedColumn(),
            TextColumn("{task.fields[action]}"),
            console=console,
            disable=not self.live,
        )
        self.bars: dict[str, TaskID] = {}

    def bar(self, phase: str) -> TaskID:
        """The bar of a phase, added when first seen."""
        if phase not in self.bars:
            self.bars[phase] = self.progress.add_task(phase, total=100, action="")
        return self.bars[phase]

    def show(self, event: RunEvent | Event) -> None:
        """Reflect one event: bars for phases and progress, lines for messages."""
        data = event.data
        # Bars are for the three phases; a full run's own events are lines only.
        phase = data.get("phase") if data.get("phase") != SyncType.FULL.value else None
        if event.type == "progress" and phase:
            action = f"{data.get('processed', 0)}/{data.get('total', 0)}"
            self.progress.update(
                self.bar(str(phase)), completed=data.get("percentage", 0), action=action
            )
        elif event.type == "phase" and phase:
            self._phase(str(phase), data)
        elif event.type == "log":
            message = str(data.get("message", ""))
            if phase:
                self.progress.update(self.bar(str(phase)), action=message)
            self._line(message)

    def _phase(self, phase: str, data: Mapping[str, Any]) -> None:
        status = str(data.get("status", ""))
        bar = self.bar(phase)
        if status == "completed":
            self.progress.update(bar, completed=100, action="done")
        elif status in ("failed", "skipped"):
            reason = data.get("error") or data.get("message") or ""
            self.progress.update(bar, action=f"{status}: {reason}".rstrip(": "))
            self.progress.stop_task(bar)
            self._line(f"{phase} {status}: {reason}".rstrip(": "))
        else:
            self.progress.update(bar, action=status)

    def _line(self, text: str) -> None:
        """A log line: above the bars on a terminal, else plain on the console."""
        if self.quiet or not text.strip():
            return
        target = self.progress.console if self.live else self.console
        target.print(f"  {text}", highlight=False)

    @contextlib.contextmanager
    def shown(self) -> Iterator[ProgressBars]:
        """Display the bars while the block runs."""
        with self.progress:
            yield self


async def follow(
    events: AsyncIterator[RunEvent] | None, task: asyncio.Future[Any], bars: ProgressBars
) -> None:
    """Show events until the run ends (its task is done), then briefly drain the rest."""
    if events is None:
        await asyncio.wait({task})
        return

    async def consume() -> None:
        async for event in events:
            bars.show(event)

    consumer = asyncio.create_task(consume())
    await asyncio.wait({consumer, task}, return_when=asyncio.FIRST_COMPLETED)
    if not consumer.done():
        await asyncio.wait({consumer}, timeout=DRAIN_SECONDS)
        consumer.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await consumer


def run_sync(
    clinic: str, sync_type: SyncType, values: Mapping[str, str | bool | None], as_json: bool
) -> None:
    """Run one sync in-process, show its progress, print its result; exit 1 if it failed."""
    clinic_id = parse_id(clinic, "--clinic")
    request = request_from_options(clinic_id, sync_type, Trigger.CLI, checked_options(values))
    settings = settings_or_exit()
    try:
        settings.require_encryption_key()
    except ConfigError as error:
        fail(error.message, code=2)
    # The bars and the final error line say what the pipeline's warnings would repeat.
    configure_logging("debug" if settings.log_level == "debug" else "error")
    console = Console(stderr=True)

    async def _go(services: Services) -> RunResult:
        handle = await services.sync.start(request)
        bars = ProgressBars(console, quiet=as_json)
        with bars.shown():
            await follow(services.sync.events.subscribe(handle.run_id), handle.task, bars)
        outcome = await handle.task
        return outcome.result()

    result = with_services(_go, upgrade_sqlite=True)
    if as_json:
        emit_json(result.wire())
    else:
        print_result(result)
    if not result.success:
        failed = [
            f"{phase}: {part.error or 'failed'}"
            for phase, part in phase_results(result)
            if not part.success and not part.skipped
        ]
        fail("; ".join(failed) or "the sync failed")


@app.command("inbound")
def inbound(
    clinic: ClinicOpt,
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    days_ahead: AheadOpt = None,
    as_json: bool = JsonOption,
) -> None:
    """Appointments of a window (default today … today + 7) → cases."""
    values = {"startDate": start_date, "endDate": end_date, "daysAhead": days_ahead}
    run_sync(clinic, SyncType.INBOUND, values, as_json)


@app.command("cases")
def cases(
    clinic: ClinicOpt,
    start_date: StartOpt = None,
    end_date: EndOpt = None,
    parallel: ParallelOpt = None,
    as_json: bool = JsonOption,
) -> None:
    """Enrich past cases (default the last 7 days) with their consultations."""
    values = {"startDate": start_date, "endDate": end_date, "parallelBatchSize": parallel}
    run_sync(clinic, SyncType.CASES, values, as_json)


@app.command("reconcile")
def reconcile(
    clinic: ClinicOpt,
    lookback_days: BackOpt = None,
    force: ForceOpt = False,
    dry_run: DryRunOpt = False,
    as_json: bool = JsonOption,
) -> None:
    """Soft-delete cases whose appointment left the PIMS (--dry-run: only report)."""
    values = {"lookbackDays": lookback_days, "force": force, "dryRun": dry_run}
    run_sync(clinic, SyncType.RECONCILIATION, values, as_json)


@app.command("full")
def full(
    clinic: ClinicOpt,
    start_date: StartOpt = None,
    days_ahead: AheadOpt = None,
    lookback_days: BackOpt = None,
    parallel: ParallelOpt = None,
    force: ForceOpt = False,
    as_json: bool = JsonOption,
) -> None:
    """Inbound, cases and reconciliation in one run, with one PIMS login."""
    values = {
        "startDate": start_date,
        "daysAhead": days_ahead,
        "lookbackDays": lookback_days,
        "parallelBatchSize": parallel,
        "force": force,
    }
    run_sync(clinic, SyncType.FULL, values, as_json)


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
