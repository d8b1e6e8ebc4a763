"""The metrics port: what the pipeline, the scheduler, the provider and the API count.

`pims_sync.metrics.Metrics` (Prometheus) implements it; `NO_METRICS` counts nothing, the
default wherever no metrics are given (tests, one-off commands), so callers never check.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

# A clinic's freshness per phase: (age in seconds or None before a first success, threshold).
PhaseAges = Mapping[str, tuple[int | None, int]]


class MetricsSink(Protocol):
    """Receives the service's measurements; never raises, never blocks."""

    def run_started(self) -> None:
        """A run began in this process (the active runs gauge goes up)."""
        ...

    def run_stopped(self) -> None:
        """A run of this process ended, however it ended (the gauge goes down)."""
        ...

    def run_finished(self, *, sync_type: str, outcome: str, seconds: float) -> None:
        """Count one finished run (`outcome`: completed, failed, ...) and its duration."""
        ...

    def phase_finished(self, *, phase: str, seconds: float) -> None:
        """Record the duration of one phase."""
        ...

    def cases_written_by(self, operation: str, count: int = 1) -> None:
        """Count cases written by one operation (created, updated, enriched, deleted, ...)."""
        ...

    def pims_request(self, *, endpoint: str, status: int | str, seconds: float) -> None:
        """Count one request to the PIMS (`status`: the HTTP status or an error kind)."""
        ...

    def browser_contexts_open(self, count: int) -> None:
        """How many browser contexts (clinic sessions) are open now."""
        ...

    def scheduled_jobs(self, by_type: Mapping[str, int]) -> None:
        """The scheduled jobs the scheduler knows, by sync type (every type, 0 for none)."""
        ...

    def observe_http(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request (`route`: the route's template, never a raw path)."""
        ...

    def clinic_freshness(self, clinics: Mapping[str, PhaseAges]) -> None:
        """Every clinic's phases now, by clinic id; a clinic left out loses its series."""
        ...

    def freshness_statuses(self, counts: Mapping[str, int]) -> None:
        """How many clinics have each freshness status (every status, 0 for none)."""
        ...


class NoMetrics:
    """A MetricsSink that counts nothing."""

    def run_started(self) -> None:
        """Nothing to count."""

    def run_stopped(self) -> None:
        """Nothing to count."""

    def run_finished(self, *, sync_type: str, outcome: str, seconds: float) -> None:
        """Nothing to count."""

    def phase_finished(self, *, phase: str, seconds: float) -> None:
        """Nothing to count."""

    def cases_written_by(self, operation: str, count: int = 1) -> None:
        """Nothing to count."""

    def pims_request(self, *, endpoint: str, status: int | str, seconds: float) -> None:
        """Nothing to count."""

    def browser_contexts_open(self, count: int) -> None:
        """Nothing to count."""

    def scheduled_jobs(self, by_type: Mapping[str, int]) -> None:
        """Nothing to count."""

    def observe_http(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Nothing to count."""

    def clinic_freshness(self, clinics: Mapping[str, PhaseAges]) -> None:
        """Nothing to count."""

    def freshness_statuses(self, counts: Mapping[str, int]) -> None:
        """Nothing to count."""


NO_METRICS: MetricsSink = NoMetrics()
