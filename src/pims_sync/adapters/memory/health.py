"""An in-memory ClinicHealthStore, for fast tests: the same rules over the memory stores."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from uuid import UUID

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.schedules import MemoryScheduleStore
from pims_sync.adapters.memory.stores import MemoryRunStore
from pims_sync.domain.freshness import PHASES, ClinicFreshness, HealthFacts, assess, thresholds_for
from pims_sync.domain.health import (
    ClinicHealth,
    HealthChange,
    HealthSettings,
    Limit,
    PauseKind,
    PauseReason,
    RunEnd,
    after_run,
    announcement,
    check_limit,
    paused_now,
    resumed,
)
from pims_sync.domain.runs import RunStatus
from pims_sync.domain.schedules import DEFAULT_RULES, ScheduleRules
from pims_sync.errors import NotFoundError


class MemoryClinicHealth:
    """Health rows in a dict; clinics are the schedule store's, runs the run store's."""

    def __init__(
        self,
        *,
        schedules: MemoryScheduleStore,
        runs: MemoryRunStore,
        events: MemoryEventLog,
        rules: ScheduleRules = DEFAULT_RULES,
    ) -> None:
        self._schedules = schedules
        self._runs = runs
        self._events = events
        self._rules = rules
        self._rows: dict[UUID, ClinicHealth] = {}

    async def health(self, clinic_id: UUID) -> ClinicHealth:
        """The clinic's row (the defaults when it has none yet)."""
        return self._rows.get(clinic_id, ClinicHealth(clinic_id))

    async def paused(self) -> set[UUID]:
        """The ids of the paused clinics."""
        return {clinic_id for clinic_id, row in self._rows.items() if row.paused}

    async def run_ended(self, *, clinic_id: UUID, end: RunEnd, at: datetime) -> ClinicFreshness:
        """Count a top-level run, warn or pause by the rules, announce a new status."""
        return await self._change(clinic_id, at, lambda health: after_run(health, end, at))

    async def freshness(
        self, *, at: datetime, clinic_ids: Sequence[UUID] | None = None
    ) -> list[ClinicFreshness]:
        """The status of these clinics (or all), as of `at`; announces nothing."""
        configs = await self._schedules.configs(clinic_ids)
        return [
            assess(await self._facts(c.clinic_id, await self.health(c.clinic_id)), at)
            for c in configs
        ]

    async def reassess(self, *, at: datetime) -> list[ClinicFreshness]:
        """Decide every clinic's status again and announce those that changed."""
        configs = await self._schedules.configs()
        return [await self._change(c.clinic_id, at, _unchanged) for c in configs]

    async def pause(self, *, clinic_id: UUID, reason: PauseReason, at: datetime) -> bool:
        """Pause the clinic (False: it already was, with its own reason)."""
        was = (await self.health(clinic_id)).paused
        await self._change(clinic_id, at, lambda health: paused_now(health, reason, at))
        return not was

    async def resume(
        self, *, clinic_id: UUID, at: datetime, by: str, only: PauseKind | None = None
    ) -> bool:
        """Resume a paused clinic (only one paused for `only`, if given); False: not paused."""
        pause = (await self.health(clinic_id)).pause
        wanted = pause is not None and (only is None or pause.kind is only)
        if wanted:
            await self._change(clinic_id, at, lambda health: resumed(health, at, by))
        return wanted

    async def configure(
        self, *, clinic_id: UUID, limits: Mapping[Limit, int | None]
    ) -> ClinicHealth:
        """Set the clinic's own limits (None: back to the default); the row as it is now."""
        checked = {limit: check_limit(limit, value) for limit, value in limits.items()}
        health = await self.health(clinic_id)
        values = health.settings.values() | checked
        await self._change(
            clinic_id,
            datetime.now().astimezone(),
            lambda row: _unchanged(replace(row, settings=HealthSettings.of(values))),
        )
        return await self.health(clinic_id)

    async def _change(
        self, clinic_id: UUID, at: datetime, decide: Callable[[ClinicHealth], HealthChange]
    ) -> ClinicFreshness:
        if await self._schedules.get(clinic_id) is None:
            raise NotFoundError(f"Clinic not found: {clinic_id}")
        # No await between reading and writing: the change is atomic in the event loop.
        change = decide(self._rows.get(clinic_id, ClinicHealth(clinic_id)))
        status = assess(await self._facts(clinic_id, change.health), at)
        announced = announcement(change.health, status)
        self._rows[clinic_id] = announced.health
        events = change.events + announced.events
        if events:
            self._events.append_now(clinic_id=clinic_id, events=events, at=at)
        return status

    async def _facts(self, clinic_id: UUID, health: ClinicHealth) -> HealthFacts:
        config = await self._schedules.get(clinic_id)
        schedules = config.parse(self._rules).schedules if config is not None else ()
        done = [
            run
            for run in self._runs.records
            if run.clinic_id == clinic_id and run.status is RunStatus.COMPLETED
        ]
        last = {
            phase: max(
                (r.completed_at for r in done if r.sync_type is phase and r.completed_at),
                default=None,
            )
            for phase in PHASES
        }
        return HealthFacts(
            clinic_id=clinic_id,
            last_success=last,
            thresholds=thresholds_for(schedules, health.settings.thresholds),
            consecutive_failures=health.consecutive_failures,
            paused_at=health.paused_at,
            paused_reason=health.pause.text if health.pause else None,
        )


def _unchanged(health: ClinicHealth) -> HealthChange:
    return HealthChange(health, [])
