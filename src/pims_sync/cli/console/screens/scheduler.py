"""5. Scheduler Status: each schedule, its next run in the clinic's time, its last outcome."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from pims_sync.cli.console.client import ServiceError
from pims_sync.cli.console.screens.base import ServiceScreen
from pims_sync.cli.console.views import CHANGE_HINT, job_rows, scheduler_summary


class SchedulerScreen(ServiceScreen):
    """`GET /api/scheduler/status` as a table; `r` reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("r", "reload", "Reload")]
    DEFAULT_CSS = "SchedulerScreen #jobs { height: auto; max-height: 14; }"

    def compose(self) -> ComposeResult:
        """Title, summary, the jobs, how to change them."""
        yield self.title_line("Scheduler Status")
        yield Static("loading…", id="summary")
        yield DataTable(id="jobs", cursor_type="row")
        yield Static("", id="empty")
        yield Static(CHANGE_HINT, id="hint")
        yield self.error_line()
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then the first read."""
        self.query_one("#jobs", DataTable).add_columns("type", "cron", "on", "next run", "last run")
        self.action_reload()

    def action_reload(self) -> None:
        """Read the status again."""
        self.run_worker(self._read(), exclusive=True, group="scheduler")

    async def _read(self) -> None:
        try:
            body = await self.client.scheduler_status()
        except ServiceError as error:
            self.show_error(error.message)
            return
        self.show_error(None)
        self.query_one("#summary", Static).update(scheduler_summary(body))
        table = self.query_one("#jobs", DataTable)
        table.clear()
        rows = job_rows(body)
        for row in rows:
            table.add_row(*row)
        self.query_one("#empty", Static).update("" if rows else "No schedules for this clinic.")
