"""The Textual application: the main menu, the connection banner, Ctrl-C and Escape."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from pims_sync import __version__
from pims_sync.cli.console.client import ServiceClient
from pims_sync.cli.console.screens.health import HealthScreen
from pims_sync.cli.console.screens.history import HistoryScreen
from pims_sync.cli.console.screens.run_sync import RunSyncScreen
from pims_sync.cli.console.screens.scheduler import SchedulerScreen
from pims_sync.cli.console.screens.status import StatusScreen
from pims_sync.errors import ServiceError

MENU = (
    ("run", "1. Run Sync (with progress)"),
    ("status", "2. View Sync Status"),
    ("history", "3. View Sync History"),
    ("health", "4. Live Health Monitor"),
    ("scheduler", "5. Scheduler Status"),
    ("exit", "6. Exit"),
)
CSS = """
Screen { layout: vertical; }
#banner { height: auto; padding: 0 1; }
#menu-box { width: 45; height: auto; border: round $accent; margin: 1 0 0 2; }
#menu-title { width: 100%; text-align: center; text-style: bold; }
#menu { height: auto; border: none; }
.error { color: $error; }
.screen-title { text-style: bold; padding: 0 1; }
"""


class MenuScreen(Screen[None]):
    """The main menu of the seed document: six choices, keys 1–6."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("1", "choose('run')", "Choose", key_display="1-6"),
        *(Binding(str(n), f"choose('{key}')", show=False) for n, (key, _) in enumerate(MENU, 1)),
        Binding("r", "reconnect", "Reconnect"),
    ]

    def __init__(self, console: ConsoleApp) -> None:
        super().__init__()
        self.console = console

    def compose(self) -> ComposeResult:
        """Banner, then the boxed menu."""
        yield Static("connecting…", id="banner")
        with Vertical(id="menu-box"):
            yield Static(f"PIMS SYNC CLI v{__version__}", id="menu-title")
            yield OptionList(*(Option(label, id=key) for key, label in MENU), id="menu")
        yield Footer()

    def on_mount(self) -> None:
        """Check the service and the key at once."""
        self.action_reconnect()

    def action_reconnect(self) -> None:
        """Ask the service again who we are."""
        self.run_worker(self._connect(), exclusive=True, group="connect")

    async def _connect(self) -> None:
        banner = self.query_one("#banner", Static)
        banner.update(await self.console.connection_text())
        banner.set_class(self.console.connection_error is not None, "error")

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        """Enter on a menu line."""
        self.action_choose(event.option.id or "")

    def action_choose(self, key: str) -> None:
        """Open the chosen screen (or exit)."""
        self.console.open(key)


class ConsoleApp(App[None]):
    """`pims-sync cli`: an operator's window onto a running service, over its HTTP API."""

    TITLE = "PIMS SYNC CLI"
    CSS = CSS
    ENABLE_COMMAND_PALETTE = False
    # Priority: an Input would otherwise take Ctrl-C (copy) and keep the operator on a screen.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+c", "leave", "Back / Exit", priority=True),
        Binding("escape", "leave", "Back", show=False),
        Binding("q", "leave", "Back", show=False),
    ]

    def __init__(self, client: ServiceClient, *, refresh_seconds: float = 1.0) -> None:
        super().__init__()
        self.client = client
        self.refresh_seconds = refresh_seconds
        self.connection_error: str | None = None
        self.clinic_zone: str | None = None

    def on_mount(self) -> None:
        """Start on the menu."""
        self.push_screen(MenuScreen(self))

    async def connection_text(self) -> str:
        """`● connected to URL: clinic (zone), version` or why not."""
        try:
            health = await self.client.health()
            clinic = (await self.client.clinic()).clinic
        except ServiceError as error:
            self.connection_error = error.message
            return f"✗ {error.message}  (r: try again)"
        self.connection_error = None
        self.clinic_zone = clinic.timezone
        who = f"{clinic.name} ({clinic.timezone})"
        return f"● connected to {self.client.url}: {who}, v{health.version}"

    def open(self, key: str) -> None:
        """Push the screen of a menu choice."""
        screens = {
            "run": RunSyncScreen,
            "status": StatusScreen,
            "history": HistoryScreen,
            "health": HealthScreen,
            "scheduler": SchedulerScreen,
        }
        if key == "exit":
            self.exit()
        elif key in screens:
            self.push_screen(screens[key](self.client, self.refresh_seconds))

    def action_leave(self) -> None:
        """Back to the menu from a screen; exit from the menu."""
        if isinstance(self.screen, MenuScreen):
            self.exit()
        else:
            self.pop_screen()

    async def on_unmount(self) -> None:
        """Close the HTTP connections."""
        await self.client.aclose()
