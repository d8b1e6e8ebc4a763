"""In-memory schedule configs, fire times and recovery, for fast tests."""

from __future__ import annotations

import dataclasses
import uuid
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pims_sync.domain.clinics import DEFAULT_TIMEZONE
from pims_sync.domain.runs import SyncType
from pims_sync.ports.schedules import ClinicScheduleConfig, FireRecord, FireStatus

FINAL = (FireStatus.COMPLETED, FireStatus.FAILED, FireStatus.SKIPPED)


class MemoryScheduleStore:
    """Clinics' schedule entries in a dict."""

    def __init__(self) -> None:
        self._configs: dict[UUID, ClinicScheduleConfig] = {}

    def add_clinic(
        self, clinic_id: UUID, *, name: str = "Clinic", timezone: str = DEFAULT_TIMEZONE
    ) -> None:
        """Make a clinic known (the SQL store reads clinics from their table)."""
        self._configs[clinic_id] = ClinicScheduleConfig(clinic_id, name, timezone, [])

    async def configs(self, clinic_ids: Sequence[UUID] | None = None) -> list[ClinicScheduleConfig]:
        """Every clinic's config, or these clinics'."""
        wanted = None if clinic_ids is None else set(clinic_ids)
        return [c for c in self._configs.values() if wanted is None or c.clinic_id in wanted]

    async def get(self, clinic_id: UUID) -> ClinicScheduleConfig | None:
        """One clinic's config; None for no such clinic."""
        return self._configs.get(clinic_id)

    async def put(self, clinic_id: UUID, entries: Sequence[Mapping[str, Any]]) -> None:
        """Replace the clinic's schedule entries."""
        config = self._configs[clinic_id]
        self._configs[clinic_id] = dataclasses.replace(
            config, entries=[dict(entry) for entry in entries]
        )


class MemoryFireStore:
    """Fire times in a dict keyed like the SQL table's unique constraint."""

    def __init__(self) -> None:
        self._fires: dict[UUID, FireRecord] = {}
        self._keys: dict[tuple[UUID, SyncType, datetime], UUID] = {}

    @property
    def all(self) -> list[FireRecord]:
        """Every fire, in time order."""
        return sorted(self._fires.values(), key=lambda f: (f.fire_at, str(f.clinic_id)))

    def _insert(self, record: FireRecord) -> UUID | None:
        key = (record.clinic_id, record.sync_type, record.fire_at)
        if key in self._keys:
            return None
        self._keys[key] = record.id
        self._fires[record.id] = record
        return record.id

    async def claim(
        self, *, clinic_id: UUID, sync_type: SyncType, fire_at: datetime, by: str, at: datetime
    ) -> UUID | None:
        """Record the fire time; None if it is already recorded."""
        return self._insert(
            FireRecord(
                uuid.uuid4(), clinic_id, SyncType(sync_type), fire_at, FireStatus.CLAIMED, by, at
            )
        )

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
        """Record the fire time as skipped unless it is already recorded."""
        record = FireRecord(
            uuid.uuid4(),
            clinic_id,
            SyncType(sync_type),
            fire_at,
            FireStatus.SKIPPED,
            by,
            at,
            reason=reason,
            finished_at=at,
        )
        return self._insert(record) is not None

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
        """Move a fire to a new status (`if_open`: only if it has not ended yet)."""
        fire = self._fires[fire_id]
        if if_open and fire.status in FINAL:
            return
        self._fires[fire_id] = dataclasses.replace(
            fire,
            status=status,
            reason=reason if reason is not None else fire.reason,
            run_id=run_id if run_id is not None else fire.run_id,
            run_by=run_by if run_by is not None else fire.run_by,
            finished_at=at if status in FINAL else fire.finished_at,
        )

    async def latest(self, clinic_ids: Sequence[UUID] | None = None) -> list[FireRecord]:
        """The latest fire of each (clinic, type)."""
        newest: dict[tuple[UUID, SyncType], FireRecord] = {}
        for fire in self.all:
            if clinic_ids is None or fire.clinic_id in clinic_ids:
                newest[(fire.clinic_id, fire.sync_type)] = fire
        return list(newest.values())

    async def between(
        self, *, start: datetime, end: datetime, clinic_id: UUID | None = None
    ) -> list[FireRecord]:
        """Fires with fire_at in [start, end), in time order."""
        return [
            f
            for f in self.all
            if start <= f.fire_at < end and (clinic_id is None or f.clinic_id == clinic_id)
        ]


class MemoryRunRecovery:
    """Nothing to recover in memory: a process's runs die with it."""

    async def abandon_stale(self, *, at: datetime, stale_after: timedelta) -> list[UUID]:
        """No stale runs."""
        del at, stale_after
        return []

    async def settle_fires(self, *, at: datetime, stale_after: timedelta) -> int:
        """No fires to settle."""
        del at, stale_after
        return 0
