"""Schedule ports: clinics' schedule configs, and the fire times claimed (once) across processes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any, Protocol
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import (
    DEFAULT_RULES,
    ClinicSchedules,
    ScheduleProblem,
    ScheduleRules,
    parse_schedules,
)


@dataclass(frozen=True, slots=True)
class ClinicScheduleConfig:
    """A clinic's schedule entries as stored, with the clinic facts the scheduler needs."""

    clinic_id: UUID
    clinic_name: str
    timezone: str
    entries: Sequence[Any] = ()

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone (cron is evaluated in it)."""
        return ZoneInfo(self.timezone)

    @property
    def parsed(self) -> ClinicSchedules:
        """The entries parsed under the default rules (see `parse`)."""
        return self.parse(DEFAULT_RULES)

    def parse(self, rules: ScheduleRules) -> ClinicSchedules:
        """The valid schedules and a problem per invalid entry (none if the zone is unknown)."""
        try:
            ZoneInfo(self.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            message = f"clinic time zone {self.timezone!r} is unknown: its schedules are skipped"
            return ClinicSchedules(problems=(ScheduleProblem(-1, message),))
        return parse_schedules(list(self.entries), rules)


class ScheduleStore(Protocol):
    """`clinic_schedule_configs` rows (one per clinic)."""

    async def configs(self, clinic_ids: Sequence[UUID] | None = None) -> list[ClinicScheduleConfig]:
        """The configs of active clinics (all of them, or these), oldest clinic first."""
        ...

    async def get(self, clinic_id: UUID) -> ClinicScheduleConfig | None:
        """One clinic's config (entries empty when it has none); None for no such clinic."""
        ...

    async def put(self, clinic_id: UUID, entries: Sequence[Mapping[str, Any]]) -> None:
        """Replace the clinic's schedule entries."""
        ...


class FireStatus(StrEnum):
    """Where a claimed fire time stands."""

    CLAIMED = "claimed"
    QUEUED = "queued"
    STARTED = "started"
    COMPLETED = "completed"
    FAILED = "failed"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class FireRecord:
    """A row of `schedule_fires`: one fire time of one schedule, and what became of it."""

    id: UUID
    clinic_id: UUID
    sync_type: SyncType
    fire_at: datetime
    status: FireStatus
    claimed_by: str
    claimed_at: datetime
    reason: str | None = None
    run_id: UUID | None = None
    run_by: str | None = None
    finished_at: datetime | None = None


class FireStore(Protocol):
    """Fire times, each recorded once: the unique (clinic, type, fire_at) makes claims exclusive."""

    async def claim(
        self, *, clinic_id: UUID, sync_type: SyncType, fire_at: datetime, by: str, at: datetime
    ) -> UUID | None:
        """Record the fire time as ours and return its id; None if it is already recorded."""
        ...

    async def skip(
        self,
        *,
        clinic_id: UUID,
        sync_type: SyncType,
        fire_at: datetime,
        reason: str,
        by: str,
        at: datetime,
    ) -> bool:
        """Record the fire time as skipped unless it is already recorded; True if recorded now."""
        ...

    async def mark(
        self,
        fire_id: UUID,
        *,
        status: FireStatus,
        at: datetime,
        reason: str | None = None,
        run_id: UUID | None = None,
        run_by: str | None = None,
        if_open: bool = False,
    ) -> None:
        """Move a fire to a new status (run id, runner and reason kept unless given).

        `if_open`: leave it alone if it has already ended (completed, failed, skipped).
        """
        ...

    async def latest(self, clinic_ids: Sequence[UUID] | None = None) -> list[FireRecord]:
        """The latest fire of each (clinic, type), for the status endpoint's `lastRun`."""
        ...

    async def between(
        self, *, start: datetime, end: datetime, clinic_id: UUID | None = None
    ) -> list[FireRecord]:
        """Fires with fire_at in [start, end), in time order."""
        ...


class RunRecovery(Protocol):
    """Cleans up after crashed processes: runs whose heartbeat stopped, and their fires."""

    async def abandon_stale(self, *, at: datetime, stale_after: timedelta) -> list[UUID]:
        """Mark live runs silent for `stale_after` failed ('abandoned'); return their ids."""
        ...

    async def settle_fires(self, *, at: datetime, stale_after: timedelta) -> int:
        """Close fires a crashed process left open: started ones whose run has ended, and
        ones claimed longer than `stale_after` ago that never reached the queue."""
        ...
