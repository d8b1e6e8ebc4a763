"""The console without a terminal: the same menu and screens as lines, stdin line by line."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import TextIO

from pims_sync import __version__
from pims_sync.cli.console.client import ServiceClient
from pims_sync.cli.console.model import (
    FORM_FIELDS,
    SYNC_TYPES,
    RateMeter,
    RunTracker,
    duration,
    requests_total,
    result_rows,
    sync_request,
)
from pims_sync.cli.console.views import (
    CHANGE_HINT,
    LIMIT,
    health_lines,
    history_rows,
    job_rows,
    run_lines,
    scheduler_summary,
    summary,
)
from pims_sync.errors import FormError, ServiceError
from pims_sync.shapes.scheduler import Job

MENU_TEXT = f"""
PIMS SYNC CLI v{__version__}
  1. Run Sync (with progress)
  2. View Sync Status
  3. View Sync History
  4. Live Health Monitor
  5. Scheduler Status
  6. Exit"""
RATE_SAMPLE_SECONDS = 1.0


class PlainConsole:
    """Menu and screens printed as text; answers read one line at a time (EOF exits)."""

    def __init__(self, client: ServiceClient, read_line: Callable[[], str], out: TextIO) -> None:
        self.client = client
        self.read_line = read_line
        self.out = out

    def say(self, text: str = "") -> None:
        """One or more lines out, at once (a pipe would otherwise hold them)."""
        self.out.write(text + "\n")
        self.out.flush()

    def ask(self, question: str, default: str = "") -> str | None:
        """A prompt and its answer; the default on an empty line; None at end of input."""
        shown = f" [{default}]" if default else ""
        self.out.write(f"? {question}{shown}: ")
        self.out.flush()
        line = self.read_line()
        if not line:
            self.say()
            return None
        return line.strip() or default

    async def run(self) -> None:
        """The menu loop until 6, EOF or Ctrl-C at the menu."""
        screens = {
            "1": self.run_sync,
            "2": self.status,
            "3": self.history,
            "4": self.health,
            "5": self.scheduler,
        }
        while True:
            self.say(MENU_TEXT)
            choice = self.ask("Choose 1-6")
            if choice is None or choice == "6":
                return
            if choice not in screens:
                self.say(f"✗ {choice!r} is not a menu choice: type 1 to 6")
                continue
            try:
                await screens[choice]()
            except ServiceError as error:
                self.say(f"✗ {error.message}")
            except (KeyboardInterrupt, asyncio.CancelledError):
                self.say("\n(interrupted: back to the menu)")

    async def run_sync(self) -> None:
        """Prompts with defaults, retried on bad input; then progress as lines."""
        answers = self._sync_form()
        if answers is None:
            return
        kind, route, body = answers
        tracker = RunTracker(kind)
        started = await self.client.start_sync(route, body)
        sync_id = str(started.sync_id)
        self.say(f"Starting {kind} sync {sync_id}…")
        shown: dict[str, int] = {}
        async for event in self.client.events(sync_id):
            for line in tracker.apply(event):
                self.say(f"  {line}")
            self._progress_lines(tracker, shown)
        detail = await self.client.run(sync_id)
        for phase, outcome, stats in result_rows(tracker.result, kind):
            self.say(f"{phase:<15} {outcome:<9} {stats}")
        end = "completed" if tracker.outcome == "completed" else "failed"
        self.say(f"Sync {sync_id} {end} in {duration(detail.duration_ms)}")

    def _progress_lines(self, tracker: RunTracker, shown: dict[str, int]) -> None:
        # One line per phase each time it passes another 25 %: a log, not a flood.
        for name, phase_bar in tracker.bars.items():
            step = int(phase_bar.percentage // 25)
            if step > shown.get(name, -1):
                shown[name] = step
                self.say(f"  {phase_bar.line(width=20)}")

    def _sync_form(self) -> tuple[str, str, dict[str, object]] | None:
        while True:
            kind = self.ask(f"Select sync type ({', '.join(SYNC_TYPES)})", "full")
            if kind is None:
                return None
            typed: dict[str, str] = {}
            for field in FORM_FIELDS:
                question = field.title if field.default else f"{field.title}, blank: today"
                answer = self.ask(question, field.default)
                if answer is None:
                    return None
                typed[field.key] = answer
            try:
                route, body = sync_request(kind, typed)
            except FormError as error:
                self.say(f"✗ {error.message}: try again")
                continue
            return kind, route, body

    async def status(self) -> None:
        """The latest run, once."""
        runs = (await self.client.history(limit=1)).runs
        if not runs:
            self.say("No runs yet.")
            return
        self.say("\n".join(run_lines(await self.client.run(str(runs[0].sync_id)))))

    async def history(self) -> None:
        """The recent runs, tab-separated."""
        body = await self.client.history(limit=LIMIT)
        self.say(summary(body, None, None).splitlines()[0])
        self.say("started\ttype\tstatus\ttook\tby\tstats")
        for row in history_rows(body.runs):
            self.say("\t".join(row))

    async def health(self) -> None:
        """Two samples a second apart, so the request rate has a value."""
        meter = RateMeter()
        meter.add(time.monotonic(), requests_total(await self.client.metrics_text()))
        await asyncio.sleep(RATE_SAMPLE_SECONDS)
        health = await self.client.health()
        rate = meter.add(time.monotonic(), requests_total(await self.client.metrics_text()))
        self.say("\n".join(health_lines(health, rate)))

    async def scheduler(self) -> None:
        """The schedules, tab-separated, and how to change them."""
        body = await self.client.scheduler_status()
        self.say(scheduler_summary(body))
        self.say("type\tcron\ton\tnext run\tlast run")
        for row in job_rows(body):
            self.say("\t".join(row))
        self.say(CHANGE_HINT.replace("e: switch the selected", "switch a"))
        await self._toggle(body.jobs)

    async def _toggle(self, jobs: list[Job]) -> None:
        answer = self.ask("Switch a schedule on/off (its type, blank: back)")
        if not answer:
            return
        job = next((j for j in jobs if j.type == answer), None)
        if job is None:
            self.say(f"✗ no {answer!r} schedule here")
            return
        await self.client.set_schedule_enabled(
            clinic_id=str(job.clinic_id), sync_type=answer, enabled=not job.enabled
        )
        self.say(f"{answer} schedule switched {'off' if job.enabled else 'on'}")
