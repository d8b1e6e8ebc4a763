"""Each screen's content as text and table rows, shared by the Textual screens and plain mode."""

from __future__ import annotations

from pims_sync.cli.console.model import (
    PhaseBar,
    clip,
    duration,
    last_run_text,
    mebibytes,
    short_stats,
    status_mark,
    uptime,
    when,
)
from pims_sync.shapes.results import stats_json
from pims_sync.shapes.runs import History, Progress, RunDetail, RunSummary
from pims_sync.shapes.scheduler import SchedulerStatus
from pims_sync.shapes.service import Health


def run_lines(detail: RunDetail) -> list[str]:
    """A run's status as lines: who, when, how long, the bars, the stats, the error."""
    lines = [
        f"Run      {detail.sync_id}",
        f"Type     {detail.type}   triggered by {detail.triggered_by}",
        f"Status   {status_mark(detail.status)}",
        f"Started  {when(detail.started_at)}   duration {duration(detail.duration_ms)}",
        f"Finished {when(detail.completed_at) or '—'}",
        "",
        _bar("overall", detail.progress, detail.status),
    ]
    lines += [_bar(str(p.type), p.progress, p.status) for p in detail.phases]
    lines += ["", f"Stats    {short_stats(stats_json(detail.stats)) or '—'}"]
    if detail.error:
        lines.append(f"Error    {detail.error}")
    return lines


def _bar(name: str, progress: Progress, status: object) -> str:
    done = f"{progress.processed}/{progress.total}"
    return PhaseBar(name, progress.percentage, f"{status_mark(status)} {done}").line(width=24)


TYPES = (None, "full", "inbound", "cases", "reconciliation")


STATUSES = (None, "completed", "failed", "in_progress")


LIMIT = 15


def summary(body: History, sync_type: str | None, status: str | None) -> str:
    """`12 runs · success rate 91.7% · ✓ 11 ✗ 1 ⟳ 0 · filters: type all, status all`."""
    counts = {s: sum(1 for r in body.runs if r.status == s) for s in STATUSES[1:]}
    rate = body.success_rate
    rate_text = "—" if rate is None else f"{rate}%"
    marks = f"✓ {counts['completed']} ✗ {counts['failed']} ⟳ {counts['in_progress']}"
    filters = f"type {sync_type or 'all'} (t), status {status or 'all'} (s)"
    return f"{body.total} runs · success rate {rate_text} · {marks}\nfilters: {filters}"


SHORT_STATUS = {"completed": "✓ done", "failed": "✗ failed", "in_progress": "⟳ running"}


def history_rows(runs: list[RunSummary]) -> list[tuple[str, ...]]:
    """One row per run: started (UTC), type, status, duration, trigger, stats."""
    return [
        (
            when(run.started_at)[5:16],
            "reconcile" if run.type == "reconciliation" else str(run.type),
            SHORT_STATUS.get(run.status, str(run.status)),
            duration(run.duration_ms),
            str(run.triggered_by),
            clip(short_stats(stats_json(run.stats), compact=True), 30),
        )
        for run in runs
    ]


def health_lines(health: Health, rate: float | None) -> list[str]:
    """Status, version, uptime, memory, request rate and each check."""
    memory = health.memory
    mark = "●" if health.status == "healthy" else "✗"
    rate_text = "measuring…" if rate is None else f"{rate:.2f} req/s"
    lines = [
        f"{mark} {health.status}   version {health.version}   uptime {uptime(health.uptime)}",
        f"memory   rss {mebibytes(memory.rss)}   heap {mebibytes(memory.heap_used)}"
        f" / {mebibytes(memory.heap_total)}",
        f"requests {rate_text}",
    ]
    marks = {"pass": "✓", "warn": "!", "fail": "✗"}
    lines += [f"  {marks[c.status]} {c.name}: {c.message}" for c in health.checks]
    return lines


# Enable/disable goes through the API (PATCH /api/scheduler/schedules); a new cron or new
# options are an administrator's change, made with the CLI on the service's machine.
CHANGE_HINT = (
    "e: switch the selected schedule on/off (needs the key's permission for its type)\n"
    '  cron/options: pims-sync schedules set --clinic ID --type T --cron "0 6 * * *"'
)


def scheduler_summary(body: SchedulerStatus) -> str:
    """`scheduler running · 2 enabled jobs (full 1, inbound 1)`, freshness, invalid entries."""
    state = "running" if body.running else "not running in the answering process"
    by_type = ", ".join(f"{k} {v}" for k, v in body.jobs_by_type.items())
    text = f"scheduler {state} · {body.total_jobs} enabled jobs"
    text += f" ({by_type})" if by_type else ""
    for line in freshness_lines(body):
        text += f"\n{line}"
    for problem in body.invalid_schedules:
        text += f"\n✗ invalid schedule #{problem.index + 1}: {problem.error} (skipped)"
    return text


FRESHNESS_MARKS = {"fresh": "✓", "stale": "!", "failing": "✗", "paused": "⏸"}


def freshness_lines(body: SchedulerStatus) -> list[str]:
    """Per clinic: `✓ fresh · inbound 12m · cases 2h · reconciliation 2h` and why it is not."""
    names = {job.clinic_id: job.clinic_name for job in body.jobs}
    several = len(body.freshness) > 1
    lines = []
    for clinic in body.freshness:
        ages = " · ".join(
            f"{name} {age_text(getattr(clinic, name).age_seconds)}"
            for name in ("inbound", "cases", "reconciliation")
        )
        who = f"{names.get(clinic.clinic_id, str(clinic.clinic_id)[:8])}: " if several else ""
        lines.append(f"{who}{FRESHNESS_MARKS[clinic.status]} {clinic.status} · {ages}")
        if clinic.reason:
            lines.append(f"  {clip(clinic.reason, 76)}")
    return lines


def age_text(seconds: int | None) -> str:
    """`never`, `45s`, `12m`, `3h`, `2d`: one unit, rounded down."""
    if seconds is None:
        return "never"
    for size, unit in ((86_400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def job_rows(body: SchedulerStatus) -> list[tuple[str, ...]]:
    """Type, cron, on/off, next run (clinic time), last outcome; the clinic when several."""
    several = len({job.clinic_id for job in body.jobs}) > 1
    rows: list[tuple[str, ...]] = []
    for job in body.jobs:
        kind = f"{job.clinic_name}: {job.type}" if several else str(job.type)
        nxt = when(job.next_run_at, job.clinic_timezone)[5:] if job.enabled else "—"
        on = "✓ on" if job.enabled else "✗ off"
        rows.append((kind, job.cron, on, nxt, last_run_text(job.last_run)))
    return rows
