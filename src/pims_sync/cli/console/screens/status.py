"""2. View Sync Status: the current or last run, refreshed while the screen is open."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.widgets import Footer, Static

from pims_sync.cli.console.screens.base import ServiceScreen
from pims_sync.cli.console.views import run_lines
from pims_sync.errors import ServiceError


class StatusScreen(ServiceScreen):
    """The clinic's latest run, live (one request a second)."""

    def compose(self) -> ComposeResult:
        """Title, the run, the error line."""
        yield self.title_line("Sync Status (live)")
        yield Static("loading…", id="run")
        yield self.error_line()
        yield Footer()

    def on_mount(self) -> None:
        """Read now, then every `refresh_seconds`."""
        self.refresh_status()
        self.set_interval(self.refresh_seconds, self.refresh_status)

    def refresh_status(self) -> None:
        """Read the latest run again (one read at a time)."""
        self.run_worker(self._read(), exclusive=True, group="status")

    async def _read(self) -> None:
        try:
            runs = (await self.client.history(limit=1)).runs
            detail = await self.client.run(str(runs[0].sync_id)) if runs else None
        except ServiceError as error:
            self.show_error(error.message)
            return
        self.show_error(None)
        text = (
            "No runs yet: start one from the menu (1)."
            if detail is None
            else "\n".join(run_lines(detail))
        )
        self.query_one("#run", Static).update(text)
