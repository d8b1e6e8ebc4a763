"""What every screen shares: the client, a title line, an error line, the footer."""

from __future__ import annotations

from textual.screen import Screen
from textual.widgets import Static

from pims_sync.cli.console.client import ServiceClient


class ServiceScreen(Screen[None]):
    """A screen that reads from the service; errors show as one red line, never a traceback."""

    def __init__(self, client: ServiceClient, refresh_seconds: float = 1.0) -> None:
        super().__init__()
        self.client = client
        self.refresh_seconds = refresh_seconds

    def title_line(self, text: str) -> Static:
        """The screen's bold title with the way back."""
        return Static(f"{text}   (Esc / Ctrl-C: menu)", classes="screen-title")

    def error_line(self) -> Static:
        """Where a service error shows."""
        return Static("", id="error", classes="error")

    def show_error(self, message: str | None) -> None:
        """Show (or, with None, clear) the error line."""
        self.query_one("#error", Static).update("" if message is None else f"✗ {message}")
