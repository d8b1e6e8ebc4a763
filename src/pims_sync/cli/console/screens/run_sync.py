"""1. Run Sync: a validated form, then one bar per phase, a 10-line log and the stats."""

from __future__ import annotations

from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import Button, DataTable, Footer, Input, Label, Select, Static

from pims_sync.cli.console.client import ServiceClient
from pims_sync.cli.console.model import (
    FAILED,
    FORM_FIELDS,
    OK,
    SYNC_TYPES,
    RunTracker,
    clip,
    duration,
    result_rows,
    sync_request,
)
from pims_sync.cli.console.screens.base import ServiceScreen
from pims_sync.errors import FormError, ServiceError
from pims_sync.shapes.runs import RunDetail

FIELD_IDS = {"type": "kind"} | {field.label: field.key for field in FORM_FIELDS}
CSS = """
RunSyncScreen .row { height: 3; }
RunSyncScreen .row Label { width: 36; padding: 1 0 0 1; }
RunSyncScreen .row Input, RunSyncScreen .row Select { width: 1fr; }
RunSyncScreen #start-button { margin: 0 0 0 37; }
RunSyncScreen #bars { height: auto; padding: 0 1; }
RunSyncScreen #log { height: 12; border: round $secondary; padding: 0 1; }
RunSyncScreen #stats { height: auto; max-height: 5; }
"""


class RunSyncScreen(ServiceScreen):
    """Type and the form's fields; then the run followed through its events."""

    DEFAULT_CSS = CSS
    BINDINGS: ClassVar[list[BindingType]] = [Binding("ctrl+s", "start", "Start", show=False)]

    def __init__(self, client: ServiceClient, refresh_seconds: float = 1.0) -> None:
        super().__init__(client, refresh_seconds)
        self.tracker: RunTracker | None = None
        self.sync_id: str | None = None

    def compose(self) -> ComposeResult:
        """The form; the progress view is hidden until a run starts."""
        yield self.title_line("Run Sync")
        with Vertical(id="form"):
            yield from self._row(
                "Select sync type",
                Select(_type_options(), value="full", allow_blank=False, id="kind"),
            )
            for field in FORM_FIELDS:
                blank = "blank: today (clinic)" if not field.default else ""
                yield from self._row(
                    field.title, Input(field.default, placeholder=blank, id=field.key)
                )
            yield Button("Start sync", id="start-button", variant="primary")
        with Vertical(id="progress"):
            yield Static("", id="run-line")
            yield Static("", id="bars")
            yield Static("", id="log")
            yield DataTable(id="stats", show_cursor=False)
        yield self.error_line()
        yield Footer()

    def _row(self, label: str, widget: Input | Select[str]) -> ComposeResult:
        with Horizontal(classes="row"):
            yield Label(f"? {label}:")
            yield widget

    def on_mount(self) -> None:
        """Hide the progress view; start typing in the date."""
        self.query_one("#progress").display = False
        self.query_one("#log", Static).border_title = "Processing Log"
        self.query_one("#start", Input).focus()

    def on_unmount(self) -> None:
        """Leaving mid-run stops only the watching: the service finishes the run anyway."""
        if self.tracker is not None and self.tracker.outcome is None and self.sync_id:
            self.app.notify(f"sync {self.sync_id} goes on in the service: see 2. View Sync Status")

    def on_input_submitted(self, _event: Input.Submitted) -> None:
        """Enter in any field starts the run (after validation)."""
        self.action_start()

    def on_button_pressed(self, _event: Button.Pressed) -> None:
        """The Start button."""
        self.action_start()

    def action_start(self) -> None:
        """Validate; on bad input say which field and why, and keep the form for a retry."""
        if self.tracker is not None:
            return
        kind = str(self.query_one("#kind", Select).value)
        typed = {field.key: self.query_one(f"#{field.key}", Input).value for field in FORM_FIELDS}
        try:
            route, body = sync_request(kind, typed)
        except FormError as error:
            self.show_error(f"{error.message}; correct it and press Enter")
            self.query_one(f"#{FIELD_IDS[error.field]}").focus()
            return
        self.show_error(None)
        self.tracker = RunTracker(kind)
        self.query_one("#form").display = False
        self.query_one("#progress").display = True
        self._draw_bars()
        self.query_one("#run-line", Static).update(f"Starting {kind} sync…")
        self.run_worker(self._follow(route, body), exclusive=True, group="run")

    async def _follow(self, route: str, body: dict[str, object]) -> None:
        tracker = self.tracker
        if tracker is None:
            return
        try:
            started = await self.client.start_sync(route, body)
            self.sync_id = str(started.sync_id)
            self.query_one("#run-line", Static).update(f"{tracker.kind} sync {self.sync_id}")
            async for event in self.client.events(self.sync_id):
                tracker.apply(event)
                self._draw_bars()
            detail = await self.client.run(self.sync_id)
        except ServiceError as error:
            self.query_one("#run-line", Static).update(f"{FAILED} the sync did not run")
            self.show_error(error.message)
            return
        self._finish(tracker, detail)

    def _draw_bars(self) -> None:
        if self.tracker is None:
            return
        lines = [b.line(width=24) for b in self.tracker.bars.values()]
        self.query_one("#bars", Static).update("\n".join(lines))
        # The tracker keeps the last LOG_LINES lines: the log scrolls by dropping the oldest.
        log = [clip(line, 74) for line in self.tracker.log]
        self.query_one("#log", Static).update("\n".join(log))

    def _finish(self, tracker: RunTracker, detail: RunDetail) -> None:
        took = duration(detail.duration_ms)
        if tracker.outcome == "completed" and (tracker.result or {}).get("success", True):
            line = f"{OK} {tracker.kind} sync {self.sync_id} completed in {took}"
        else:
            line = f"{FAILED} {tracker.kind} sync {self.sync_id} failed after {took}"
            self.show_error(tracker.error or detail.error or "a phase failed")
        self.query_one("#run-line", Static).update(line)
        table = self.query_one("#stats", DataTable)
        table.add_columns("phase", "outcome", "stats")
        for row in result_rows(tracker.result, tracker.kind):
            table.add_row(*row)


def _type_options() -> list[tuple[str, str]]:
    labels = {"full": "Full Sync", "inbound": "Inbound", "cases": "Cases", "reconcile": "Reconcile"}
    return [(labels[key], key) for key in SYNC_TYPES]
