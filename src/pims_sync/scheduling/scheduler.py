"""The scheduler: every tick, claim the due fire times (once across processes) and queue them.

Every process that runs the scheduler ticks; they agree on fire times because the
planner is pure, and the fire table's unique (clinic, type, fire_at) lets exactly one
of them claim each. Recovery runs beside the tick: runs whose heartbeat stopped (a
crashed process) are marked abandoned, and jobs held by dead workers are released.
A paused clinic's schedules fire not at all (docs/freshness.md); every
`freshness_every` the clinics' freshness is decided again, so a clinic whose runs
stopped turns stale without a run.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from uuid import UUID

from pims_sync.domain.freshness import ClinicFreshness
from pims_sync.domain.runs import RunRecord, Trigger
from pims_sync.domain.schedules import DEFAULT_RULES, ClinicSchedules, ScheduleRules
from pims_sync.errors import JobRefusedError
from pims_sync.ports.health import ClinicHealthStore
from pims_sync.ports.queue import JobQueue, SyncJob
from pims_sync.ports.schedules import (
    ClinicScheduleConfig,
    FireStatus,
    FireStore,
    RunRecovery,
    ScheduleStore,
)
from pims_sync.ports.store import RunStore
from pims_sync.scheduling.planner import MAX_CATCH_UP, Fire, due_fires

log = logging.getLogger("pims_sync.scheduling")

ABANDONED_JOB = "abandoned: the worker running it stopped"


@dataclass(frozen=True, slots=True)
class SchedulerOptions:
    """How often to tick, when a run counts as dead, and this process's name."""

    tick_seconds: float = 15.0
    stale_after: timedelta = timedelta(minutes=2)
    max_catch_up: timedelta = MAX_CATCH_UP
    name: str = "scheduler"
    rules: ScheduleRules = DEFAULT_RULES
    freshness_every: timedelta = timedelta(seconds=60)


@dataclass
class TickReport:
    """What one tick did (for logs and tests)."""

    claimed: int = 0
    queued: int = 0
    skipped: int = 0
    paused: int = 0  # clinics whose schedules did not fire: paused
    jobs_by_type: Counter[str] = field(default_factory=Counter)


class Scheduler:
    """The tick loop of one process."""

    def __init__(
        self,
        *,
        schedules: ScheduleStore,
        fires: FireStore,
        runs: RunStore,
        queue: JobQueue,
        recovery: RunRecovery,
        now: Callable[[], datetime],
        options: SchedulerOptions | None = None,
        observe: Callable[[TickReport], None] | None = None,
        health: ClinicHealthStore | None = None,
    ) -> None:
        self._schedules = schedules
        self._fires = fires
        self._runs = runs
        self._queue = queue
        self._recovery = recovery
        self._now = now
        self._options = options or SchedulerOptions()
        self._observe = observe
        self._health = health
        self._watched: datetime | None = None
        self._last: datetime | None = None
        # Per clinic, both pruned when the clinic leaves the configs (_forget_gone).
        self._reported: dict[UUID, tuple[str, ...]] = {}
        # Each clinic's entries as last read, parsed: parsed again only when they change.
        self._parsed: dict[UUID, tuple[str, object, ClinicSchedules]] = {}
        self._stop = asyncio.Event()
        self.running = False

    @property
    def clinics_remembered(self) -> int:
        """Clinics this scheduler keeps state for (those in the configs at the last tick)."""
        return len(set(self._parsed) | set(self._reported))

    async def run(self, *, plan: bool = True) -> None:
        """Recover (and tick, if `plan`) until stop(); a failing pass is retried next time."""
        self.running = plan
        try:
            while not self._stop.is_set():
                try:
                    await self.recover()
                    if plan:
                        await self.tick()
                        await self.watch_freshness()
                except Exception:
                    log.exception("scheduler tick failed; trying again next tick")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self._options.tick_seconds)
        finally:
            self.running = False

    def stop(self) -> None:
        """Take no more fire times (the current tick finishes)."""
        self._stop.set()

    async def recover(self) -> None:
        """Mark dead runs abandoned, close their fires, free jobs of dead workers."""
        now = self._now()
        abandoned = await self._recovery.abandon_stale(
            at=now, stale_after=self._options.stale_after
        )
        for run_id in abandoned:
            log.warning(
                "run %s had no heartbeat for %s: marked abandoned",
                run_id,
                self._options.stale_after,
            )
        # Fires of ended runs take the run's outcome first; then jobs of dead workers.
        await self._recovery.settle_fires(at=now, stale_after=self._options.stale_after)
        for job in await self._queue.recover_stalled():
            # A freed delivery job needs nothing: its endpoint's row says what is due.
            if isinstance(job, SyncJob) and job.fire_id is not None:
                await self._fires.mark(
                    job.fire_id,
                    status=FireStatus.FAILED,
                    at=now,
                    reason=ABANDONED_JOB,
                    if_open=True,
                )

    async def tick(self) -> TickReport:
        """Claim and queue every fire time since the last tick (on the first: the last hour)."""
        now = self._now()
        after = self._last if self._last is not None else now - self._options.max_catch_up
        report = TickReport()
        configs = await self._schedules.configs()
        self._forget_gone({config.clinic_id for config in configs})
        paused = await self._health.paused() if self._health is not None else set()
        for config in configs:
            if config.clinic_id in paused:
                report.paused += 1
                continue  # its fire times pass unclaimed: resuming starts no catch-up
            parsed = self._parse(config)
            self._report_problems(config, tuple(str(p) for p in parsed.problems))
            if not parsed.schedules:
                continue  # also a clinic whose zone is unknown (reported above)
            report.jobs_by_type.update(s.type.value for s in parsed.schedules if s.enabled)
            due = due_fires(parsed.schedules, config.zone, after, now, self._options.max_catch_up)
            if not due:
                continue
            # Busy means a run started before this tick: a job queued just below may open its
            # run at once, and must not turn the clinic's other fire of this instant away.
            live = await self._runs.active(clinic_id=config.clinic_id)
            for fire in due:
                await self._fire(config, fire, live, now, report)
        self._last = now
        if self._observe is not None:
            self._observe(report)
        return report

    async def watch_freshness(self) -> list[ClinicFreshness]:
        """Decide every clinic's freshness again, at most every `freshness_every`."""
        now = self._now()
        last = self._watched
        if self._health is None or (
            last is not None and now - last < self._options.freshness_every
        ):
            return []
        self._watched = now
        return await self._health.reassess(at=now)

    def _parse(self, config: ClinicScheduleConfig) -> ClinicSchedules:
        """The clinic's schedules, parsed when its entries or zone changed, never per tick."""
        known = self._parsed.get(config.clinic_id)
        if known is not None and known[0] == config.timezone and known[1] == config.entries:
            return known[2]
        parsed = config.parse(self._options.rules)
        self._parsed[config.clinic_id] = (config.timezone, config.entries, parsed)
        return parsed

    def _forget_gone(self, clinic_ids: set[UUID]) -> None:
        for gone in set(self._parsed) - clinic_ids:
            del self._parsed[gone]
        for gone in set(self._reported) - clinic_ids:
            del self._reported[gone]

    async def _fire(
        self,
        config: ClinicScheduleConfig,
        fire: Fire,
        live: RunRecord | None,
        now: datetime,
        report: TickReport,
    ) -> None:
        sync_type = fire.schedule.type
        for missed in fire.missed:
            await self._fires.skip(
                clinic_id=config.clinic_id,
                sync_type=sync_type,
                fire_at=missed,
                reason=f"missed: superseded by the fire time {fire.fire_at.isoformat()}",
                by=self._options.name,
                at=now,
            )
        fire_id = await self._fires.claim(
            clinic_id=config.clinic_id,
            sync_type=sync_type,
            fire_at=fire.fire_at,
            by=self._options.name,
            at=now,
        )
        if fire_id is None:
            return  # another process claimed it
        report.claimed += 1
        if live is not None:
            report.skipped += 1
            reason = f"clinic busy: run {live.id} in progress"
            await self._fires.mark(fire_id, status=FireStatus.SKIPPED, at=now, reason=reason)
            return
        job = SyncJob(
            clinic_id=config.clinic_id,
            sync_type=sync_type,
            triggered_by=Trigger.SCHEDULER,
            options=fire.schedule.options,
            fire_id=fire_id,
        )
        await self._queue_job(job, fire_id, now, report)

    async def _queue_job(
        self, job: SyncJob, fire_id: UUID, now: datetime, report: TickReport
    ) -> None:
        try:
            # Marked queued first: an in-process queue may run (and close) it at once.
            await self._fires.mark(fire_id, status=FireStatus.QUEUED, at=now)
            await self._queue.enqueue(job)
        except JobRefusedError as refused:
            report.skipped += 1
            await self._fires.mark(fire_id, status=FireStatus.SKIPPED, at=now, reason=str(refused))
            return
        except Exception as error:
            log.exception("could not queue the %s run of fire %s", job.sync_type.value, fire_id)
            await self._fires.mark(
                fire_id, status=FireStatus.FAILED, at=now, reason=f"could not queue: {error}"
            )
            return
        report.queued += 1

    def _report_problems(self, config: ClinicScheduleConfig, problems: tuple[str, ...]) -> None:
        """Log a clinic's invalid entries once per change, not on every tick."""
        if self._reported.get(config.clinic_id, ()) == problems:
            return
        self._reported[config.clinic_id] = problems
        for problem in problems:
            log.warning("clinic %s: %s (skipped)", config.clinic_id, problem)
