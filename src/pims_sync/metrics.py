"""Prometheus metrics: one `Metrics` per process or app, each with its own registry.

Framework-free (only prometheus_client): the API renders it at `/metrics`; the
pipeline, the scheduler and the browser provider feed it through the `MetricsSink` port
(`ports/metrics.py`), which `Metrics` implements; `Services.metrics` is the one of a process.
"""

from __future__ import annotations

import resource
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)

# A sync run takes seconds to minutes; a phase as little as a few hundred milliseconds.
RUN_BUCKETS = (0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600, 1800)
# One PIMS request: tens of milliseconds to the request timeout.
REQUEST_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
STATUS_FILE = Path("/proc/self/status")
# HTTP label values come from fixed sets: a client can invent methods and paths without
# end, and every new label value is a new series kept for the life of the process.
HTTP_METHODS = frozenset(
    {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"}
)
OTHER_METHOD = "OTHER"


@dataclass(frozen=True, slots=True)
class ProcessMemory:
    """The process's memory, in bytes, in the shape the original's `/health` gave.

    Python has no V8 heap, so: `rss` is the resident set (VmRSS); `heap_used` is the
    resident *anonymous* memory (RssAnon: the malloc and pymalloc arenas where Python
    objects live, without mapped code and files); `heap_total` is the data segment
    (VmData: heap and anonymous mappings reserved, resident or not). Off Linux all
    three fall back to the peak resident set reported by getrusage.
    """

    rss: int
    heap_used: int
    heap_total: int


def _status_fields() -> dict[str, int]:
    """The `kB` fields of /proc/self/status, in bytes (empty off Linux)."""
    try:
        text = STATUS_FILE.read_text()
    except OSError:
        return {}
    fields: dict[str, int] = {}
    for line in text.splitlines():
        name, _, value = line.partition(":")
        parts = value.split()
        if len(parts) == 2 and parts[1] == "kB" and parts[0].isdigit():
            fields[name] = int(parts[0]) * 1024
    return fields


def process_memory() -> ProcessMemory:
    """Read the process's memory now."""
    fields = _status_fields()
    if "VmRSS" in fields:
        rss = fields["VmRSS"]
        return ProcessMemory(
            rss=rss,
            heap_used=fields.get("RssAnon", rss),
            heap_total=fields.get("VmData", rss),
        )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    peak *= 1 if sys.platform == "darwin" else 1024  # bytes on macOS, kB elsewhere
    return ProcessMemory(rss=peak, heap_used=peak, heap_total=peak)


def method_label(method: str) -> str:
    """The method as a label value: a standard HTTP method, else OTHER."""
    return method if method in HTTP_METHODS else OTHER_METHOD


class Metrics:
    """Every metric family of the service, registered in a registry of its own (a MetricsSink)."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        self.started = time.monotonic()
        self._sync_metrics()
        self._pims_metrics()
        self._process_metrics()
        self._freshness_metrics()
        self.http_requests = Counter(
            "pims_sync_http_requests",
            "HTTP requests answered, by method, route template and status.",
            ("method", "route", "status"),
            registry=self.registry,
        )
        self.http_request_duration = Histogram(
            "pims_sync_http_request_duration_seconds",
            "Time to answer an HTTP request, by method and route template.",
            ("method", "route"),
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )

    def _sync_metrics(self) -> None:
        self.sync_runs = Counter(
            "pims_sync_runs",
            "Sync runs finished, by type (inbound, cases, reconciliation, full) and outcome.",
            ("type", "outcome"),
            registry=self.registry,
        )
        self.run_duration = Histogram(
            "pims_sync_run_duration_seconds",
            "Duration of a whole sync run, by type.",
            ("type",),
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.phase_duration = Histogram(
            "pims_sync_phase_duration_seconds",
            "Duration of one phase of a run, by phase.",
            ("phase",),
            buckets=RUN_BUCKETS,
            registry=self.registry,
        )
        self.cases_written = Counter(
            "pims_sync_cases_written",
            "Cases written, by operation (created, updated, enriched, deleted, restored, ...).",
            ("operation",),
            registry=self.registry,
        )
        self.active_runs = Gauge(
            "pims_sync_active_runs",
            "Sync runs in progress in this process.",
            registry=self.registry,
        )
        self.scheduler_jobs = Gauge(
            "pims_sync_scheduler_jobs",
            "Scheduled jobs known to the scheduler, by type.",
            ("type",),
            registry=self.registry,
        )

    def _pims_metrics(self) -> None:
        self.pims_requests = Counter(
            "pims_sync_pims_requests",
            "Requests sent to the PIMS, by endpoint name and HTTP status (or error kind).",
            ("endpoint", "status"),
            registry=self.registry,
        )
        self.pims_request_duration = Histogram(
            "pims_sync_pims_request_duration_seconds",
            "Latency of requests to the PIMS, by endpoint name.",
            ("endpoint",),
            buckets=REQUEST_BUCKETS,
            registry=self.registry,
        )
        self.browser_contexts = Gauge(
            "pims_sync_browser_contexts",
            "Open browser contexts (one per clinic session).",
            registry=self.registry,
        )

    def _freshness_metrics(self) -> None:
        # Labelled by clinic: ids come from the clinics table (added by an administrator),
        # never from a request, so the series are bounded by the clinics and three phases.
        # Filled only when /metrics needs METRICS_TOKEN: clinic ids are not for anyone.
        self.freshness_age = Gauge(
            "pims_sync_freshness_age_seconds",
            "Seconds since each phase of a clinic last succeeded (absent before a first success).",
            ("clinic_id", "phase"),
            registry=self.registry,
        )
        self.freshness_threshold = Gauge(
            "pims_sync_freshness_threshold_seconds",
            "The age past which a phase of a clinic is stale.",
            ("clinic_id", "phase"),
            registry=self.registry,
        )
        self.freshness_status = Gauge(
            "pims_sync_clinics_by_freshness",
            "Active clinics by freshness status (fresh, stale, failing, paused).",
            ("status",),
            registry=self.registry,
        )
        self._ages: set[tuple[str, str]] = set()
        self._thresholds: set[tuple[str, str]] = set()

    def _process_metrics(self) -> None:
        # Standard process_* series (resident/virtual memory, CPU, fds) on Linux.
        ProcessCollector(registry=self.registry)
        memory = Gauge(
            "pims_sync_process_memory_bytes",
            "Process memory by kind (rss, heap_used, heap_total; see /health).",
            ("kind",),
            registry=self.registry,
        )
        memory.labels("rss").set_function(lambda: process_memory().rss)
        memory.labels("heap_used").set_function(lambda: process_memory().heap_used)
        memory.labels("heap_total").set_function(lambda: process_memory().heap_total)
        uptime = Gauge(
            "process_uptime_seconds", "Seconds since the service started.", registry=self.registry
        )
        uptime.set_function(self.uptime)

    def uptime(self) -> float:
        """Seconds since these metrics were created (the service's start)."""
        return time.monotonic() - self.started

    def run_started(self) -> None:
        """A run began in this process."""
        self.active_runs.inc()

    def run_stopped(self) -> None:
        """A run of this process ended, however it ended."""
        self.active_runs.dec()

    def run_finished(self, *, sync_type: str, outcome: str, seconds: float) -> None:
        """Count one finished run (`outcome`: completed, failed, ...) and its duration."""
        self.sync_runs.labels(sync_type, outcome).inc()
        self.run_duration.labels(sync_type).observe(seconds)

    def phase_finished(self, *, phase: str, seconds: float) -> None:
        """Record the duration of one phase."""
        self.phase_duration.labels(phase).observe(seconds)

    def pims_request(self, *, endpoint: str, status: int | str, seconds: float) -> None:
        """Count one request to the PIMS (`status`: the HTTP status or an error kind)."""
        self.pims_requests.labels(endpoint, str(status)).inc()
        self.pims_request_duration.labels(endpoint).observe(seconds)

    def browser_contexts_open(self, count: int) -> None:
        """How many browser contexts are open now."""
        self.browser_contexts.set(count)

    def scheduled_jobs(self, by_type: Mapping[str, int]) -> None:
        """The scheduled jobs by sync type (the caller names every type, with 0 for none)."""
        for sync_type, count in by_type.items():
            self.scheduler_jobs.labels(sync_type).set(count)

    def cases_written_by(self, operation: str, count: int = 1) -> None:
        """Count cases written by one operation (created, updated, enriched, deleted, ...)."""
        if count:
            self.cases_written.labels(operation).inc(count)

    def observe_http(self, *, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request (`route`: the route's template, never a raw path)."""
        method = method_label(method)
        self.http_requests.labels(method, route, str(status)).inc()
        self.http_request_duration.labels(method, route).observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The Prometheus text exposition and its content type."""
        return generate_latest(self.registry), CONTENT_TYPE_LATEST

    def clinic_freshness(self, clinics: Mapping[str, Mapping[str, tuple[int | None, int]]]) -> None:
        """Each clinic's phases now (age or None, threshold); a clinic left out loses its series."""
        ages: set[tuple[str, str]] = set()
        thresholds: set[tuple[str, str]] = set()
        for clinic_id, phases in clinics.items():
            for phase, (age, threshold) in phases.items():
                self.freshness_threshold.labels(clinic_id, phase).set(threshold)
                thresholds.add((clinic_id, phase))
                if age is not None:
                    self.freshness_age.labels(clinic_id, phase).set(age)
                    ages.add((clinic_id, phase))
        for series in self._ages - ages:
            self.freshness_age.remove(*series)
        for series in self._thresholds - thresholds:
            self.freshness_threshold.remove(*series)
        self._ages, self._thresholds = ages, thresholds

    def freshness_statuses(self, counts: Mapping[str, int]) -> None:
        """How many clinics have each freshness status (the caller names every status)."""
        for status, count in counts.items():
            self.freshness_status.labels(status).set(count)
