"""What a run's phases share: the clinic, one PIMS session, the stores, events, clocks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any
from uuid import UUID
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import CalendarPage
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.stats import InboundStats, ReconciliationStats, StatsT
from pims_sync.ports.login_budget import LoginAllowance
from pims_sync.ports.metrics import NO_METRICS, MetricsSink
from pims_sync.ports.mirror import ScheduleMirror
from pims_sync.ports.provider import PimsSession
from pims_sync.ports.store import CaseStore, RunStore
from pims_sync.sync.events import EventBus, RunEvent
from pims_sync.sync.outcomes import PhaseReport, Reported
from pims_sync.sync.progress import Progress, ProgressReporter
from pims_sync.sync.windows import DateWindow, clinic_today

log = logging.getLogger("pims_sync.sync")


@dataclass
class CalendarCache:
    """Calendar pages fetched in this run, so a later phase can reuse them (docs/pipeline.md)."""

    pages: list[tuple[DateWindow, CalendarPage]] = field(default_factory=list)

    def put(self, window: DateWindow, page: CalendarPage) -> None:
        """Remember what the PIMS listed for a window."""
        self.pages.append((window, page))

    def covering(self, window: DateWindow, zone: ZoneInfo) -> CalendarPage | None:
        """The appointments overlapping `window` if a fetched window covers it, else None."""
        for fetched, page in self.pages:
            if fetched.first <= window.first and window.last <= fetched.last:
                return page.overlapping(window.start_instant(zone), window.end_instant(zone))
        return None


@dataclass
class RunState:
    """A run's state: its login budget, and why it was stopped (for the rows it closes)."""

    deadline: float | None = None
    timeout_ms: int = 0
    stop_reason: str | None = None
    report: PhaseReport[Any] | None = None
    begun: bool = False
    logins: LoginAllowance | None = None

    def cancel_reason(self) -> str:
        """The error message for a run cancelled from outside."""
        if self.stop_reason:
            return self.stop_reason
        if self.deadline is not None and time.monotonic() >= self.deadline:
            return f"sync timed out after {self.timeout_ms} ms"
        return "cancelled"


@dataclass
class RunEnv:
    """One run: its clinic, session, stores and event stream."""

    clinic: Clinic
    run_id: UUID
    session: PimsSession
    cases: CaseStore
    runs: RunStore
    events: EventBus
    now: Callable[[], datetime]
    batch_size: int
    metrics: MetricsSink = NO_METRICS
    # The schedule mirror each calendar fetch is written to (None: a run that keeps none).
    mirror: ScheduleMirror | None = None
    calendar: CalendarCache = field(default_factory=CalendarCache)
    state: RunState = field(default_factory=RunState)
    progress_clock: Callable[[], float] = time.monotonic

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone."""
        return self.clinic.zone

    def today(self) -> date:
        """The clinic's date now."""
        return clinic_today(self.now(), self.zone)

    async def publish(self, event_type: str, **data: object) -> None:
        """Publish an event of this run."""
        await self.events.publish(self.run_id, RunEvent(event_type, dict(data)))  # type: ignore[arg-type]

    def phase(self, stats: StatsT, row_id: UUID) -> PhaseContext[StatsT]:
        """A context for one phase (the one `stats` counts) whose audit row is `row_id`."""
        return PhaseContext(env=self, row_id=row_id, report=PhaseReport(stats))


@dataclass
class PhaseContext(Reported[StatsT]):
    """One phase of a run: where it reports counters, progress and operator messages."""

    env: RunEnv
    row_id: UUID
    report: PhaseReport[StatsT]
    progress: ProgressReporter = field(init=False)

    def __post_init__(self) -> None:
        self.progress = ProgressReporter(
            runs=self.env.runs,
            run_id=self.row_id,
            now=self.env.now,
            on_write=self._progress_event,
            clock=self.env.progress_clock,
        )

    async def _progress_event(self, reading: Progress) -> None:
        await self.env.publish(
            "progress",
            phase=self.phase.value,
            percentage=reading.percentage,
            processed=reading.processed,
            total=reading.total,
        )

    async def say(self, message: str) -> None:
        """An operator message: logged and published (ids and counts only, no people)."""
        log.info(message)
        await self.env.publish("log", phase=self.phase.value, message=message)

    def written(self, operation: str, count: int) -> None:
        """Count cases written for the metrics."""
        self.env.metrics.cases_written_by(operation, count)


# The phases that read the calendar, and count what it sent that was tolerated.
CalendarContext = PhaseContext[InboundStats] | PhaseContext[ReconciliationStats]
