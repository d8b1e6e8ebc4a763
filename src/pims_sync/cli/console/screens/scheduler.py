"""5. Scheduler Status: each schedule, its next run in the clinic's time, its last outcome."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from pims_sync.cli.console.client import ServiceClient
from pims_sync.cli.console.screens.base import ServiceScreen
from pims_sync.cli.console.views import CHANGE_HINT, job_rows, scheduler_summary
from pims_sync.errors import ServiceError
from pims_sync.shapes.scheduler import Job


class SchedulerScreen(ServiceScreen):
    """`GET /api/scheduler/status` as a table; `e` switches a schedule on/off, `r` reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("e", "switch", "On/off"),
        Binding("r", "reload", "Reload"),
    ]

    def __init__(self, client: ServiceClient, refresh_seconds: float = 1.0) -> None:
        super().__init__(client, refresh_seconds)
        self.jobs: list[Job] = []  # the table's rows, in order, for `e`

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

    def action_switch(self) -> None:
        """Switch the selected schedule on or off through the API."""
        row = self.query_one("#jobs", DataTable).cursor_row
        if 0 <= row < len(self.jobs):
            self.run_worker(self._toggle(self.jobs[row]), exclusive=True, group="scheduler")

    async def _toggle(self, job: Job) -> None:
        try:
            await self.client.set_schedule_enabled(
                clinic_id=str(job.clinic_id), sync_type=str(job.type), enabled=not job.enabled
            )
        except ServiceError as error:
            self.show_error(error.message)
            return
        await self._read(keep_error=False)

    async def _read(self, *, keep_error: bool = False) -> None:
        try:
            body = await self.client.scheduler_status()
        except ServiceError as error:
            self.show_error(error.message)
            return
        if not keep_error:
            self.show_error(None)
        self.jobs = list(body.jobs)
        self.query_one("#summary", Static).update(scheduler_summary(body))
        table = self.query_one("#jobs", DataTable)
        cursor = table.cursor_row
        table.clear()
        rows = job_rows(body)
        for row in rows:
            table.add_row(*row)
        if rows:
            table.move_cursor(row=min(max(cursor, 0), len(rows) - 1))
        self.query_one("#empty", Static).update("" if rows else "No schedules for this clinic.")
