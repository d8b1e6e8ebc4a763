"""Each screen's content as text and table rows, shared by the Textual screens and plain mode."""

from __future__ import annotations

from typing import Any

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


def run_lines(detail: dict[str, Any]) -> list[str]:
    """A run's status as lines: who, when, how long, the bars, the stats, the error."""
    progress = detail.get("progress") or {}
    lines = [
        f"Run      {detail.get('syncId')}",
        f"Type     {detail.get('type')}   triggered by {detail.get('triggeredBy')}",
        f"Status   {status_mark(detail.get('status'))}",
        f"Started  {when(detail.get('startedAt'))}   duration {duration(detail.get('durationMs'))}",
        f"Finished {when(detail.get('completedAt')) or '—'}",
        "",
        _bar("overall", progress, detail.get("status")),
    ]
    lines += [
        _bar(str(p.get("type")), p.get("progress") or {}, p.get("status"))
        for p in detail.get("phases") or []
    ]
    lines += ["", f"Stats    {short_stats(detail.get('stats')) or '—'}"]
    if detail.get("error"):
        lines.append(f"Error    {detail['error']}")
    return lines


def _bar(name: str, progress: dict[str, Any], status: object) -> str:
    percentage = float(progress.get("percentage") or 0)
    done = f"{progress.get('processed', 0)}/{progress.get('total', 0)}"
    return PhaseBar(name, percentage, f"{status_mark(status)} {done}").line(width=24)


TYPES = (None, "full", "inbound", "cases", "reconciliation")


STATUSES = (None, "completed", "failed", "in_progress")


LIMIT = 15


def summary(body: dict[str, Any], sync_type: str | None, status: str | None) -> str:
    """`12 runs · success rate 91.7% · ✓ 11 ✗ 1 ⟳ 0 · filters: type all, status all`."""
    runs = body.get("runs") or []
    counts = {s: sum(1 for r in runs if r.get("status") == s) for s in STATUSES[1:]}
    rate = body.get("successRate")
    rate_text = "—" if rate is None else f"{rate}%"
    marks = f"✓ {counts['completed']} ✗ {counts['failed']} ⟳ {counts['in_progress']}"
    filters = f"type {sync_type or 'all'} (t), status {status or 'all'} (s)"
    total = body.get("total", len(runs))
    return f"{total} runs · success rate {rate_text} · {marks}\nfilters: {filters}"


SHORT_STATUS = {"completed": "✓ done", "failed": "✗ failed", "in_progress": "⟳ running"}


def history_rows(runs: list[dict[str, Any]]) -> list[tuple[str, ...]]:
    """One row per run: started (UTC), type, status, duration, trigger, stats."""
    return [
        (
            when(run.get("startedAt"))[5:16],
            "reconcile" if run.get("type") == "reconciliation" else str(run.get("type")),
            SHORT_STATUS.get(str(run.get("status")), str(run.get("status"))),
            duration(run.get("durationMs")),
            str(run.get("triggeredBy")),
            clip(short_stats(run.get("stats"), compact=True), 30),
        )
        for run in runs
    ]


def health_lines(health: dict[str, Any], rate: float | None) -> list[str]:
    """Status, version, uptime, memory, request rate and each check."""
    memory = health.get("memory") or {}
    mark = "●" if health.get("status") == "healthy" else "✗"
    rate_text = "measuring…" if rate is None else f"{rate:.2f} req/s"
    lines = [
        f"{mark} {health.get('status')}   version {health.get('version')}   "
        f"uptime {uptime(health.get('uptime'))}",
        f"memory   rss {mebibytes(memory.get('rss'))}   heap {mebibytes(memory.get('heapUsed'))}"
        f" / {mebibytes(memory.get('heapTotal'))}",
        f"requests {rate_text}",
    ]
    marks = {"pass": "✓", "warn": "!", "fail": "✗"}
    lines += [
        f"  {marks.get(c.get('status'), '?')} {c.get('name')}: {c.get('message')}"
        for c in health.get("checks") or []
    ]
    return lines


# Enable/disable goes through the API (PATCH /api/scheduler/schedules); a new cron or new
# options are an administrator's change, made with the CLI on the service's machine.
CHANGE_HINT = (
    "e: switch the selected schedule on/off (needs the key's permission for its type)\n"
    '  cron/options: pims-sync schedules set --clinic ID --type T --cron "0 6 * * *"'
)


def scheduler_summary(body: dict[str, Any]) -> str:
    """`scheduler running · 2 enabled jobs (full 1, inbound 1)` and invalid entries."""
    state = "running" if body.get("running") else "not running in the answering process"
    by_type = ", ".join(f"{k} {v}" for k, v in (body.get("jobsByType") or {}).items())
    text = f"scheduler {state} · {body.get('totalJobs', 0)} enabled jobs"
    text += f" ({by_type})" if by_type else ""
    for problem in body.get("invalidSchedules") or []:
        text += (
            f"\n✗ invalid schedule #{problem.get('index', 0) + 1}: {problem.get('error')} (skipped)"
        )
    return text


def job_rows(body: dict[str, Any]) -> list[tuple[str, ...]]:
    """Type, cron, on/off, next run (clinic time), last outcome; the clinic when several."""
    jobs = body.get("jobs") or []
    several = len({job.get("clinicId") for job in jobs}) > 1
    rows: list[tuple[str, ...]] = []
    for job in jobs:
        zone = job.get("clinicTimezone")
        kind = f"{job.get('clinicName')}: {job.get('type')}" if several else str(job.get("type"))
        nxt = when(job.get("nextRunAt"), zone)[5:] if job.get("enabled") else "—"
        on = "✓ on" if job.get("enabled") else "✗ off"
        rows.append((kind, str(job.get("cron")), on, nxt, last_run_text(job.get("lastRun"))))
    return rows
