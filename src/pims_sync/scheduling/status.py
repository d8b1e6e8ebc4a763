"""The scheduler's status (`GET /api/scheduler/status`), built from configs and fires.

See docs/deploy.md#schedules.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from pims_sync.domain.freshness import ClinicFreshness
from pims_sync.domain.schedules import DEFAULT_RULES, ScheduleRules
from pims_sync.ports.schedules import ClinicScheduleConfig, FireRecord
from pims_sync.scheduling.planner import next_fire
from pims_sync.shapes.freshness import ClinicFreshnessOut
from pims_sync.shapes.scheduler import InvalidSchedule, Job, LastRun, SchedulerStatus


def last_run(fire: FireRecord | None) -> LastRun | None:
    """A schedule's latest fire time and what became of it."""
    if fire is None:
        return None
    return LastRun(
        fire_at=fire.fire_at,
        status=fire.status,
        sync_id=fire.run_id,
        reason=fire.reason,
        finished_at=fire.finished_at,
    )


def jobs(
    configs: Sequence[ClinicScheduleConfig],
    fires: Sequence[FireRecord],
    now: datetime,
    rules: ScheduleRules = DEFAULT_RULES,
) -> list[Job]:
    """One entry per valid schedule of these clinics, with its next and last run."""
    last = {(f.clinic_id, f.sync_type): f for f in fires}
    found: list[Job] = []
    for config in configs:
        for schedule in config.parse(rules).schedules:
            found.append(
                Job(
                    clinic_id=config.clinic_id,
                    clinic_name=config.clinic_name,
                    clinic_timezone=config.timezone,
                    type=schedule.type,
                    cron=schedule.cron,
                    enabled=schedule.enabled,
                    options=dict(schedule.options),
                    next_run_at=next_fire(schedule, config.zone, now),
                    last_run=last_run(last.get((config.clinic_id, schedule.type))),
                )
            )
    return found


def problems(
    configs: Sequence[ClinicScheduleConfig], rules: ScheduleRules = DEFAULT_RULES
) -> list[InvalidSchedule]:
    """The invalid entries (skipped by the scheduler), one per problem."""
    return [
        InvalidSchedule(clinic_id=c.clinic_id, index=p.index, error=p.message)
        for c in configs
        for p in c.parse(rules).problems
    ]


def status_of(
    configs: Sequence[ClinicScheduleConfig],
    fires: Sequence[FireRecord],
    now: datetime,
    *,
    running: bool,
    rules: ScheduleRules = DEFAULT_RULES,
    freshness: Sequence[ClinicFreshness] = (),
) -> SchedulerStatus:
    """`{running, totalJobs, jobsByType, jobs, invalidSchedules, freshness}`."""
    listed = jobs(configs, fires, now, rules)
    by_type = Counter(job.type.value for job in listed if job.enabled)
    return SchedulerStatus(
        running=running,
        total_jobs=sum(by_type.values()),
        jobs_by_type=dict(by_type),
        jobs=listed,
        invalid_schedules=problems(configs, rules),
        freshness=[ClinicFreshnessOut.of(clinic) for clinic in freshness],
    )
