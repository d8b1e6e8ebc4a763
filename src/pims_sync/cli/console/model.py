"""What the console shows, computed without any I/O: forms, progress, log, tables, rates."""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from prometheus_client.parser import text_string_to_metric_families

from pims_sync.cli.console.client import Event
from pims_sync.domain.run_options import (
    DAYS_AHEAD,
    END_DATE,
    LOOKBACK_DAYS,
    OPTIONS_BY_TYPE,
    PARALLEL_BATCH_SIZE,
    START_DATE,
    CountOption,
    DayOption,
)
from pims_sync.domain.runs import SyncType
from pims_sync.errors import FormError, OptionError
from pims_sync.shapes.scheduler import LastRun

# Menu label → (API route, audit type); the route is what `POST /api/sync/<route>` takes.
SYNC_TYPES: dict[str, tuple[str, str]] = {
    "full": ("full", "full"),
    "inbound": ("inbound", "inbound"),
    "cases": ("cases", "cases"),
    "reconcile": ("reconcile", "reconciliation"),
}
PHASES_OF = {"full": ("inbound", "cases", "reconciliation")}
LOG_LINES = 10
BAR_WIDTH = 30
OK, RUNNING, FAILED = "✓", "⟳", "✗"
REQUESTS_SAMPLE = "pims_sync_http_requests_total"
MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class FormField:
    """A typed field of the Run Sync form, bounded by its run option's declaration."""

    key: str  # the widget's id and the key of sync_request's `typed`
    label: str  # how the form names it, in its title and its messages
    option: CountOption | DayOption

    @property
    def title(self) -> str:
        """`Days ahead (0–90)`."""
        option = self.option
        bounds = option.hint if isinstance(option, DayOption) else f"{option.low}–{option.high}"
        return f"{self.label.capitalize()} ({bounds})"

    @property
    def default(self) -> str:
        """The value the field starts with (a date starts blank: the clinic's today)."""
        return "" if isinstance(self.option, DayOption) else str(self.option.default)


FORM_FIELDS = (
    FormField("start", "start date", START_DATE),
    FormField("days", "days ahead", DAYS_AHEAD),
    FormField("lookback", "lookback days", LOOKBACK_DAYS),
    FormField("parallel", "parallel fetches", PARALLEL_BATCH_SIZE),
)


def sync_request(kind: str, typed: Mapping[str, str]) -> tuple[str, dict[str, Any]]:
    """Validate the Run Sync form (by field key): (route, body). A blank field is not sent.

    Every field is checked, with the API's rule in the form's words; the body has the
    options the type takes, and a cases run's window is start date … + days ahead.
    """
    if kind not in SYNC_TYPES:
        raise FormError("type", f"type must be one of {', '.join(SYNC_TYPES)}")
    route, audit_type = SYNC_TYPES[kind]
    values: dict[str, Any] = {}
    for field_ in FORM_FIELDS:
        text = typed.get(field_.key, field_.default).strip()
        if not text:
            continue
        try:
            values[field_.option.name] = field_.option.parse(text)
        except OptionError as error:
            raise FormError(field_.label, f"{field_.label} {error.rule}") from None
    sync_type = SyncType(audit_type)
    body = {
        name: value.isoformat() if isinstance(value, date) else value
        for name, value in values.items()
        if name in OPTIONS_BY_TYPE[sync_type]
    }
    first = values.get(START_DATE.name)
    if sync_type is SyncType.CASES and isinstance(first, date):
        ahead = values.get(DAYS_AHEAD.name, DAYS_AHEAD.default)
        body[END_DATE.name] = (first + timedelta(days=ahead)).isoformat()
    return route, body


def bar(percentage: float, width: int = BAR_WIDTH) -> str:
    """A Unicode progress bar: `█` done, `░` to go."""
    done = round(max(0.0, min(100.0, percentage)) * width / 100)
    return "█" * done + "░" * (width - done)


@dataclass
class PhaseBar:
    """One phase's bar: how far, what it is doing, how it ended."""

    name: str
    percentage: float = 0.0
    action: str = "waiting"
    status: str = "waiting"

    def line(self, width: int = BAR_WIDTH, total: int = 76) -> str:
        """`inbound        ████░░░  40% | Fetching appointments`, cut to `total` characters."""
        done = f"{bar(self.percentage, width)} {self.percentage:>3.0f}%"
        text = f"{self.name:<14} {done} | {self.action}"
        return clip(text, total)


@dataclass
class RunTracker:
    """Follows a run's events: the bars, the last ten log lines, the outcome."""

    kind: str
    bars: dict[str, PhaseBar] = field(default_factory=dict)
    log: deque[str] = field(default_factory=lambda: deque(maxlen=LOG_LINES))
    outcome: str | None = None
    error: str | None = None
    result: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        for phase in PHASES_OF.get(
            self.kind, (SYNC_TYPES.get(self.kind, (self.kind, self.kind))[1],)
        ):
            self.bars[phase] = PhaseBar(phase)

    def _bar(self, phase: object) -> PhaseBar:
        name = str(phase or self.kind)
        return self.bars.setdefault(name, PhaseBar(name))

    def apply(self, event: Event) -> list[str]:
        """Take one event in; the log lines it adds."""
        data = event.data
        if event.type == "progress":
            target = self._bar(data.get("phase"))
            target.percentage = float(data.get("percentage") or 0)
            target.action = f"{data.get('processed', 0)}/{data.get('total', 0)} processed"
            return []
        if event.type == "log":
            # A run-level message (e.g. the login of a full run) has no bar of its own.
            owner = self.bars.get(str(data.get("phase")))
            if owner is not None:
                owner.action = str(data.get("message", ""))
            return self._add(f"{OK} {data.get('message', '')}")
        if event.type == "phase":
            return self._phase(data)
        if event.type in ("completed", "failed"):
            return self._end(event)
        return []

    def _phase(self, data: dict[str, Any]) -> list[str]:
        target, status = self._bar(data.get("phase")), str(data.get("status"))
        target.status = status
        if status == "started":
            target.action = "started"
            return self._add(f"{RUNNING} Starting {target.name}…")
        if status == "completed":
            target.percentage, target.action = 100.0, "done"
            return self._add(f"{OK} {target.name} done: {short_stats(data.get('stats'))}")
        if status == "skipped":
            target.action = f"skipped: {data.get('message') or ''}".strip()
            return self._add(f"– {target.name} skipped: {data.get('message') or ''}")
        target.action = f"failed: {data.get('error') or ''}"
        return self._add(f"{FAILED} {target.name} failed: {data.get('error') or ''}")

    def _end(self, event: Event) -> list[str]:
        self.outcome = event.type
        result = event.data.get("result")
        self.result = result if isinstance(result, dict) else None
        if event.type == "completed":
            return self._add(f"{OK} Sync completed")
        self.error = str(event.data.get("error") or "the run failed")
        for phase_bar in self.bars.values():  # a phase cut short by the failure sends no end
            if phase_bar.status == "started":
                phase_bar.status, phase_bar.action = "failed", "failed"
        return self._add(f"{FAILED} Sync failed: {self.error}")

    def _add(self, line: str) -> list[str]:
        self.log.append(line)
        return [line]


STAT_NAMES = {
    "appointmentsFound": "found",
    "casesFound": "found",
    "casesChecked": "checked",
    "casesCreated": "created",
    "casesUpdated": "updated",
    "casesEnriched": "enriched",
    "casesDeleted": "deleted",
    "casesRestored": "restored",
    "casesSkipped": "skipped",
    "casesFailed": "failed",
}


# Narrow tables (history at 80 columns) use these shorter words.
COMPACT_NAMES = {"created": "new", "updated": "upd", "enriched": "enr", "deleted": "del"}


def short_stats(stats: object, *, compact: bool = False) -> str:
    """`found 25 · created 18 · updated 7` (zeros left out but for the first)."""
    if not isinstance(stats, dict):
        return ""
    parts = []
    for i, (key, value) in enumerate(stats.items()):
        if isinstance(value, int) and (value or i == 0):
            name = STAT_NAMES.get(str(key), str(key))
            parts.append(f"{COMPACT_NAMES.get(name, name) if compact else name} {value}")
    return (" " if compact else " · ").join(parts)


def clip(text: str, width: int) -> str:
    """At most `width` characters, `…` marking a cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def result_rows(result: dict[str, Any] | None, kind: str) -> list[tuple[str, str, str]]:
    """The final stats table: (phase, outcome, stats) per phase of the result."""
    if result is None:
        return []
    if "inboundResult" in result:
        keys = (("inbound", "inboundResult"), ("cases", "casesResult"))
        parts = [*keys, ("reconciliation", "reconciliationResult")]
        return [_row(name, result.get(key)) for name, key in parts]
    return [_row(SYNC_TYPES.get(kind, (kind, kind))[1], result)]


def _row(name: str, part: object) -> tuple[str, str, str]:
    if not isinstance(part, dict):
        return (name, "–", "")
    outcome = f"{OK} ok" if part.get("success") else f"{FAILED} failed"
    detail = short_stats(part.get("stats")) or str(part.get("error") or "")
    if not part.get("success") and part.get("error"):
        detail = str(part["error"])
    return (name, outcome, clip(detail, 48))


def duration(ms: object) -> str:
    """`850ms`, `12.3s`, `4m05s`."""
    if not isinstance(ms, int | float):
        return ""
    if ms < 1000:
        return f"{ms:.0f}ms"
    seconds = ms / 1000
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, rest = divmod(int(seconds), 60)
    return f"{minutes}m{rest:02d}s"


def uptime(seconds: object) -> str:
    """`2d 03:04:05` or `03:04:05`."""
    total = int(seconds) if isinstance(seconds, int | float) else 0
    days, rest = divmod(total, 86400)
    hours, rest = divmod(rest, 3600)
    clock = f"{hours:02d}:{rest // 60:02d}:{rest % 60:02d}"
    return f"{days}d {clock}" if days else clock


def mebibytes(value: object) -> str:
    """Bytes as `123.4 MiB`."""
    return f"{value / MIB:.1f} MiB" if isinstance(value, int | float) else "?"


def status_mark(status: object) -> str:
    """`✓ completed`, `✗ failed`, `⟳ in_progress`."""
    marks = {"completed": OK, "failed": FAILED, "skipped": "–"}
    marks |= dict.fromkeys(("in_progress", "claimed", "queued", "started"), RUNNING)
    return f"{marks.get(str(status), '?')} {status}"


def when(moment: datetime | str | None, zone: str | None = None) -> str:
    """An instant (or its ISO text) as `2026-06-11 06:00 PDT` in the zone (UTC when unknown)."""
    if not moment:
        return ""
    instant = (
        moment
        if isinstance(moment, datetime)
        else datetime.fromisoformat(moment.replace("Z", "+00:00"))
    )
    try:
        local = instant.astimezone(ZoneInfo(zone or "UTC"))
    except ZoneInfoNotFoundError:
        local = instant.astimezone(ZoneInfo("UTC"))
    return local.strftime("%Y-%m-%d %H:%M %Z")


def requests_total(metrics_text: str) -> float:
    """The sum of `pims_sync_http_requests_total` over every label set."""
    # By sample name: the family's name differs between exposition formats (with or
    # without `_total`), the samples' does not.
    families = text_string_to_metric_families(metrics_text)
    return sum(s.value for f in families for s in f.samples if s.name == REQUESTS_SAMPLE)


@dataclass
class RateMeter:
    """Requests per second from successive scrapes of a counter."""

    last: tuple[float, float] | None = None

    def add(self, at: float, total: float) -> float | None:
        """The rate since the previous scrape (None on the first, or after a restart)."""
        previous, self.last = self.last, (at, total)
        if previous is None or at <= previous[0] or total < previous[1]:
            return None
        return (total - previous[1]) / (at - previous[0])


def last_run_text(last: LastRun | None) -> str:
    """A schedule's last fire: `✓ completed` (+ the reason it was skipped or failed)."""
    if last is None:
        return "never"
    text = status_mark(last.status)
    return f"{text} ({last.reason})" if last.reason else text
