"""4. Live Health Monitor: memory, uptime and request rate, with sparklines of 5 minutes."""

from __future__ import annotations

import time
from collections import deque

from textual.app import ComposeResult
from textual.widgets import Footer, Sparkline, Static

from pims_sync.cli.console.client import ServiceClient
from pims_sync.cli.console.model import MIB, RateMeter, requests_total
from pims_sync.cli.console.screens.base import ServiceScreen
from pims_sync.cli.console.views import health_lines
from pims_sync.errors import ServiceError

WINDOW_SECONDS = 300
CSS = """
HealthScreen #health { height: auto; padding: 0 1; }
HealthScreen .label { padding: 1 1 0 1; }
HealthScreen Sparkline { height: 3; margin: 0 1; }
"""


class HealthScreen(ServiceScreen):
    """`/health` and `/metrics` read every `refresh_seconds`; the last 5 minutes as sparklines."""

    DEFAULT_CSS = CSS

    def __init__(self, client: ServiceClient, refresh_seconds: float = 1.0) -> None:
        super().__init__(client, refresh_seconds)
        size = max(2, int(WINDOW_SECONDS / refresh_seconds))
        self.memory: deque[float] = deque(maxlen=size)
        self.rates: deque[float] = deque(maxlen=size)
        self.meter = RateMeter()

    def compose(self) -> ComposeResult:
        """Title, figures, two sparklines."""
        yield self.title_line("Live Health Monitor")
        yield Static("loading…", id="health")
        yield Static("", id="memory-label", classes="label")
        yield Sparkline([], id="memory-trend")
        yield Static("", id="rate-label", classes="label")
        yield Sparkline([], id="rate-trend")
        yield self.error_line()
        yield Footer()

    def on_mount(self) -> None:
        """Sample now, then every `refresh_seconds`."""
        self.sample()
        self.set_interval(self.refresh_seconds, self.sample)

    def sample(self) -> None:
        """One scrape of health and metrics (one at a time)."""
        self.run_worker(self._read(), exclusive=True, group="health")

    async def _read(self) -> None:
        try:
            health = await self.client.health()
            total = requests_total(await self.client.metrics_text())
        except ServiceError as error:
            self.show_error(error.message)
            return
        self.show_error(None)
        rate = self.meter.add(time.monotonic(), total)
        self.memory.append(health.memory.rss / MIB)
        if rate is not None:
            self.rates.append(rate)
        self.query_one("#health", Static).update("\n".join(health_lines(health, rate)))
        seconds = len(self.memory) * self.refresh_seconds
        minutes = f"last {seconds / 60:.1f} min" if seconds >= 60 else f"last {seconds:.0f} s"
        self.query_one("#memory-label", Static).update(
            f"memory rss, {minutes} (max {max(self.memory):.1f} MiB)"
        )
        peak = max(self.rates, default=0.0)
        self.query_one("#rate-label", Static).update(f"requests/s, {minutes} (max {peak:.2f})")
        self.query_one("#memory-trend", Sparkline).data = list(self.memory)
        self.query_one("#rate-trend", Sparkline).data = list(self.rates)
