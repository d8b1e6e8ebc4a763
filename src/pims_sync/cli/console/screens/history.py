"""3. View Sync History: the recent runs with inline stats, durations and the success rate."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import DataTable, Footer, Static

from pims_sync.cli.console.screens.base import ServiceScreen
from pims_sync.cli.console.views import LIMIT, STATUSES, TYPES, history_rows, summary
from pims_sync.errors import ServiceError


class HistoryScreen(ServiceScreen):
    """The last runs; `t` and `s` cycle the type and status filters, `r` reloads."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("t", "cycle_type", "Type filter"),
        Binding("s", "cycle_status", "Status filter"),
        Binding("r", "reload", "Reload"),
    ]
    DEFAULT_CSS = "HistoryScreen #runs { height: 1fr; }"

    sync_type: str | None = None
    status: str | None = None

    def compose(self) -> ComposeResult:
        """Title, summary, the table."""
        yield self.title_line("Sync History (UTC)")
        yield Static("loading…", id="summary")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield self.error_line()
        yield Footer()

    def on_mount(self) -> None:
        """Columns, then the first read."""
        self.query_one("#runs", DataTable).add_columns(
            "started", "type", "status", "took", "by", "stats"
        )
        self.action_reload()

    def action_cycle_type(self) -> None:
        """Next type filter."""
        self.sync_type = TYPES[(TYPES.index(self.sync_type) + 1) % len(TYPES)]
        self.action_reload()

    def action_cycle_status(self) -> None:
        """Next status filter."""
        self.status = STATUSES[(STATUSES.index(self.status) + 1) % len(STATUSES)]
        self.action_reload()

    def action_reload(self) -> None:
        """Read the history again with the filters."""
        self.run_worker(self._read(), exclusive=True, group="history")

    async def _read(self) -> None:
        try:
            body = await self.client.history(
                limit=LIMIT, sync_type=self.sync_type, status=self.status
            )
        except ServiceError as error:
            self.show_error(error.message)
            return
        self.show_error(None)
        self.query_one("#summary", Static).update(summary(body, self.sync_type, self.status))
        table = self.query_one("#runs", DataTable)
        table.clear()
        for row in history_rows(body.runs):
            table.add_row(*row)
