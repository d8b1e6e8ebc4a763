"""The scheduler's status (`GET /api/scheduler/status`), built from configs and fires.

See docs/deploy.md#schedules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from pims_sync.domain.schedules import DEFAULT_RULES, ScheduleRules
from pims_sync.ports.schedules import ClinicScheduleConfig, FireRecord
from pims_sync.scheduling.planner import next_fire


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def last_run_json(fire: FireRecord | None) -> dict[str, Any] | None:
    """A schedule's latest fire time and what became of it."""
    if fire is None:
        return None
    return {
        "fireAt": _iso(fire.fire_at),
        "status": fire.status.value,
        "syncId": None if fire.run_id is None else str(fire.run_id),
        "reason": fire.reason,
        "finishedAt": _iso(fire.finished_at),
    }


def jobs_json(
    configs: Sequence[ClinicScheduleConfig],
    fires: Sequence[FireRecord],
    now: datetime,
    rules: ScheduleRules = DEFAULT_RULES,
) -> list[dict[str, Any]]:
    """One entry per valid schedule of these clinics, with its next and last run."""
    last = {(f.clinic_id, f.sync_type): f for f in fires}
    jobs: list[dict[str, Any]] = []
    for config in configs:
        for schedule in config.parse(rules).schedules:
            upcoming = next_fire(schedule, config.zone, now)
            jobs.append(
                {
                    "clinicId": str(config.clinic_id),
                    "clinicName": config.clinic_name,
                    "clinicTimezone": config.timezone,
                    "type": schedule.type.value,
                    "cron": schedule.cron,
                    "enabled": schedule.enabled,
                    "options": dict(schedule.options),
                    "nextRunAt": _iso(upcoming),
                    "lastRun": last_run_json(last.get((config.clinic_id, schedule.type))),
                }
            )
    return jobs


def problems_json(
    configs: Sequence[ClinicScheduleConfig], rules: ScheduleRules = DEFAULT_RULES
) -> list[dict[str, Any]]:
    """The invalid entries (skipped by the scheduler), one per problem."""
    return [
        {"clinicId": str(c.clinic_id), "index": p.index, "error": p.message}
        for c in configs
        for p in c.parse(rules).problems
    ]


def status_json(
    configs: Sequence[ClinicScheduleConfig],
    fires: Sequence[FireRecord],
    now: datetime,
    *,
    running: bool,
    rules: ScheduleRules = DEFAULT_RULES,
) -> dict[str, Any]:
    """`{running, totalJobs, jobsByType, jobs, invalidSchedules}`."""
    jobs = jobs_json(configs, fires, now, rules)
    by_type = Counter(job["type"] for job in jobs if job["enabled"])
    return {
        "running": running,
        "totalJobs": sum(by_type.values()),
        "jobsByType": dict(by_type),
        "jobs": jobs,
        "invalidSchedules": problems_json(configs, rules),
    }
