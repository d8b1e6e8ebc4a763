"""Schedule configs, fire times and crash recovery on SQLite and Postgres."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import and_, func, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.runs import EVENT_COLUMNS, append_run_events
from pims_sync.adapters.sql.tables import case_sync_audits as audits
from pims_sync.adapters.sql.tables import clinic_schedule_configs as configs
from pims_sync.adapters.sql.tables import clinics, schedule_fires
from pims_sync.adapters.sql.upsert import insert_for
from pims_sync.domain.instants import utc
from pims_sync.domain.runs import RunStatus, SyncType
from pims_sync.ports.schedules import ClinicScheduleConfig, FireRecord, FireStatus

ABANDONED = "abandoned"
LOST_CLAIM = "abandoned: the process that claimed it stopped before queueing it"


def _entries(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list) else [] if value is None else [value]


class SqlScheduleStore:
    """`clinic_schedule_configs` joined with the clinic's name and time zone."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    def _query(self) -> Any:
        return select(
            clinics.c.id, clinics.c.name, clinics.c.timezone, configs.c.sync_schedules
        ).select_from(clinics.outerjoin(configs, configs.c.clinic_id == clinics.c.id))

    async def configs(self, clinic_ids: Sequence[UUID] | None = None) -> list[ClinicScheduleConfig]:
        """The configs of active clinics (all of them, or these), oldest clinic first."""
        query = self._query().where(clinics.c.is_active.is_(True))
        if clinic_ids is not None:
            query = query.where(clinics.c.id.in_(list(clinic_ids)))
        query = query.order_by(clinics.c.created_at, clinics.c.id)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            ClinicScheduleConfig(row.id, row.name, row.timezone, _entries(row.sync_schedules))
            for row in rows
        ]

    async def get(self, clinic_id: UUID) -> ClinicScheduleConfig | None:
        """One clinic's config (entries empty when it has none); None for no such clinic."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(self._query().where(clinics.c.id == clinic_id))).first()
        if row is None:
            return None
        return ClinicScheduleConfig(row.id, row.name, row.timezone, _entries(row.sync_schedules))

    async def put(self, clinic_id: UUID, entries: Sequence[Mapping[str, Any]]) -> None:
        """Replace the clinic's schedule entries (one row per clinic, upserted)."""
        now = datetime.now(UTC)
        values = [dict(entry) for entry in entries]
        statement = insert_for(self._engine, configs).values(
            id=uuid.uuid4(), clinic_id=clinic_id, sync_schedules=values, updated_at=now
        )
        statement = statement.on_conflict_do_update(
            index_elements=[configs.c.clinic_id],
            set_={"sync_schedules": statement.excluded.sync_schedules, "updated_at": now},
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)


def _fire(row: Any) -> FireRecord:
    return FireRecord(
        id=row.id,
        clinic_id=row.clinic_id,
        sync_type=SyncType(row.sync_type),
        fire_at=row.fire_at,
        status=FireStatus(row.status),
        claimed_by=row.claimed_by,
        claimed_at=row.claimed_at,
        reason=row.reason,
        run_id=row.run_id,
        run_by=row.run_by,
        finished_at=row.finished_at,
    )


FINAL = (FireStatus.COMPLETED, FireStatus.FAILED, FireStatus.SKIPPED)


class SqlFireStore:
    """`schedule_fires`: one row per fire time, inserted once (ON CONFLICT DO NOTHING)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def _insert(self, values: dict[str, Any]) -> UUID | None:
        statement = (
            insert_for(self._engine, schedule_fires)
            .values(**values)
            .on_conflict_do_nothing(index_elements=["clinic_id", "sync_type", "fire_at"])
            .returning(schedule_fires.c.id)
        )
        async with self._engine.begin() as conn:
            return (await conn.execute(statement)).scalar_one_or_none()

    async def claim(
        self, *, clinic_id: UUID, sync_type: SyncType, fire_at: datetime, by: str, at: datetime
    ) -> UUID | None:
        """Record the fire time as ours and return its id; None if it is already recorded."""
        return await self._insert(
            {
                "id": uuid.uuid4(),
                "clinic_id": clinic_id,
                "sync_type": SyncType(sync_type).value,
                "fire_at": utc(fire_at),
                "status": FireStatus.CLAIMED.value,
                "claimed_by": by,
                "claimed_at": utc(at),
                "updated_at": utc(at),
            }
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
        """Record the fire time as skipped unless it is already recorded; True if recorded now."""
        inserted = await self._insert(
            {
                "id": uuid.uuid4(),
                "clinic_id": clinic_id,
                "sync_type": SyncType(sync_type).value,
                "fire_at": utc(fire_at),
                "status": FireStatus.SKIPPED.value,
                "claimed_by": by,
                "claimed_at": utc(at),
                "reason": reason,
                "finished_at": utc(at),
                "updated_at": utc(at),
            }
        )
        return inserted is not None

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
        values: dict[str, Any] = {"status": FireStatus(status).value, "updated_at": utc(at)}
        if reason is not None:
            values["reason"] = reason
        if run_id is not None:
            values["run_id"] = run_id
        if run_by is not None:
            values["run_by"] = run_by
        if status in FINAL:
            values["finished_at"] = utc(at)
        query = update(schedule_fires).where(schedule_fires.c.id == fire_id)
        if if_open:
            query = query.where(schedule_fires.c.status.not_in([s.value for s in FINAL]))
        async with self._engine.begin() as conn:
            await conn.execute(query.values(**values))

    async def latest(self, clinic_ids: Sequence[UUID] | None = None) -> list[FireRecord]:
        """The latest fire of each (clinic, type), for the status endpoint's `lastRun`."""
        newest = select(
            schedule_fires.c.clinic_id,
            schedule_fires.c.sync_type,
            func.max(schedule_fires.c.fire_at).label("fire_at"),
        ).group_by(schedule_fires.c.clinic_id, schedule_fires.c.sync_type)
        if clinic_ids is not None:
            newest = newest.where(schedule_fires.c.clinic_id.in_(list(clinic_ids)))
        last = newest.subquery()
        query = select(schedule_fires).join(
            last,
            and_(
                schedule_fires.c.clinic_id == last.c.clinic_id,
                schedule_fires.c.sync_type == last.c.sync_type,
                schedule_fires.c.fire_at == last.c.fire_at,
            ),
        )
        async with self._engine.connect() as conn:
            return [_fire(row) for row in await conn.execute(query)]

    async def between(
        self, *, start: datetime, end: datetime, clinic_id: UUID | None = None
    ) -> list[FireRecord]:
        """Fires with fire_at in [start, end), in time order."""
        query = select(schedule_fires).where(
            schedule_fires.c.fire_at >= utc(start), schedule_fires.c.fire_at < utc(end)
        )
        if clinic_id is not None:
            query = query.where(schedule_fires.c.clinic_id == clinic_id)
        query = query.order_by(schedule_fires.c.fire_at, schedule_fires.c.clinic_id)
        async with self._engine.connect() as conn:
            return [_fire(row) for row in await conn.execute(query)]


# A run's last sign of life: rows written by the original service may lack a heartbeat.
LAST_SIGN = func.coalesce(audits.c.heartbeat_at, audits.c.started_at)


class SqlRunRecovery:
    """Marks the runs of crashed processes abandoned (by heartbeat) and closes their fires."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def abandon_stale(self, *, at: datetime, stale_after: timedelta) -> list[UUID]:
        """Mark live runs silent for `stale_after` failed ('abandoned'); return their ids."""
        at = utc(at)
        failed = {
            "status": RunStatus.FAILED.value,
            "error_message": ABANDONED,
            "completed_at": at,
            "updated_at": at,
        }
        live = audits.c.status == RunStatus.IN_PROGRESS.value
        async with self._engine.begin() as conn:
            # The heartbeat condition is in the UPDATE itself: a run that beat since we
            # looked stays alive, and two processes recovering at once mark it once.
            stale = list(
                await conn.execute(
                    update(audits)
                    .where(live, audits.c.parent_id.is_(None), at - stale_after > LAST_SIGN)
                    .values(**failed)
                    .returning(*EVENT_COLUMNS)
                )
            )
            ids = [row.id for row in stale]
            if ids:
                await conn.execute(
                    update(audits).where(live, audits.c.parent_id.in_(ids)).values(**failed)
                )
                # Each abandoned run's `sync.failed`, last in the transaction.
                await append_run_events(conn, stale, error_code=ABANDONED, at=at)
        return ids

    async def settle_fires(self, *, at: datetime, stale_after: timedelta) -> int:
        """Close fires a crashed process left open (started with an ended run; long claimed)."""
        at = utc(at)
        ended = (
            select(audits.c.status, audits.c.error_message)
            .where(audits.c.id == schedule_fires.c.run_id)
            .where(audits.c.status != RunStatus.IN_PROGRESS.value)
        )
        async with self._engine.begin() as conn:
            lost = await conn.execute(
                update(schedule_fires)
                .where(schedule_fires.c.status == FireStatus.CLAIMED.value)
                .where(schedule_fires.c.claimed_at < at - stale_after)
                .values(
                    status=FireStatus.FAILED.value,
                    reason=LOST_CLAIM,
                    finished_at=at,
                    updated_at=at,
                )
            )
            result = await conn.execute(
                update(schedule_fires)
                .where(schedule_fires.c.status == FireStatus.STARTED.value)
                .where(ended.exists())
                .values(
                    status=ended.with_only_columns(audits.c.status).scalar_subquery(),
                    reason=ended.with_only_columns(audits.c.error_message).scalar_subquery(),
                    finished_at=at,
                    updated_at=at,
                )
            )
        return sum(int(getattr(r, "rowcount", 0) or 0) for r in (lost, result))
