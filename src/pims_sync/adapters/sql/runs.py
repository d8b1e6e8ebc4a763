"""RunStore on SQLite and Postgres; a partial unique index keeps one live run per clinic."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.outbox import append_events
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import case_sync_audits as audits
from pims_sync.domain.change_events import run_event
from pims_sync.domain.instants import utc
from pims_sync.domain.outbox import NewEvent
from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger
from pims_sync.errors import RunInProgressError, StorageUnavailableError

STALE_AFTER = timedelta(minutes=2)
ABANDONED = "abandoned"
COUNTERS = tuple(f.name for f in fields(RunCounters))
# Closing a run is retried this long: a restarting Postgres is back within a few seconds,
# and a run closed late is better than one left to the stale sweep.
CLOSE_RETRY_DELAYS = (0.5, 1.0, 2.0)

# A run's last sign of life: rows written by the original service may lack a heartbeat.
LAST_SIGN = func.coalesce(audits.c.heartbeat_at, audits.c.started_at)


def _record(row: Any) -> RunRecord:
    return RunRecord(
        id=row.id,
        clinic_id=row.clinic_id,
        sync_type=SyncType(row.sync_type),
        status=RunStatus(row.status),
        triggered_by=Trigger(row.triggered_by),
        started_at=row.started_at,
        parent_id=row.parent_id,
        completed_at=row.completed_at,
        error_message=row.error_message,
        counters=RunCounters(**{name: getattr(row, name) for name in COUNTERS}),
        total_items=row.total_items,
        processed_items=row.processed_items,
        progress_percentage=row.progress_percentage,
        last_progress_update=row.last_progress_update,
        heartbeat_at=row.heartbeat_at,
        result=row.result,
    )


# What a run's event needs of its row, as an UPDATE … RETURNING gives it back.
EVENT_COLUMNS = (
    audits.c.id,
    audits.c.clinic_id,
    audits.c.parent_id,
    audits.c.sync_type,
    audits.c.triggered_by,
    audits.c.status,
    *(audits.c[name] for name in COUNTERS),
)


async def append_run_events(
    conn: AsyncConnection, rows: Sequence[Any], *, error_code: str | None, at: datetime
) -> None:
    """`sync.*` events of top-level rows just closed (EVENT_COLUMNS), clinic by clinic.

    In the caller's transaction, last: clinics in one order, so two such transactions
    never wait on each other's sequence rows in a cycle.
    """
    by_clinic: dict[UUID, list[NewEvent]] = {}
    for row in rows:
        if row.parent_id is None:
            by_clinic.setdefault(row.clinic_id, []).append(
                run_event(
                    run_id=row.id,
                    sync_type=SyncType(row.sync_type),
                    triggered_by=Trigger(row.triggered_by),
                    status=RunStatus(row.status),
                    counters=RunCounters(**{name: getattr(row, name) for name in COUNTERS}),
                    error_code=error_code,
                )
            )
    for clinic_id in sorted(by_clinic):
        await append_events(conn, clinic_id=clinic_id, events=by_clinic[clinic_id], at=at)


def _live(clinic_id: UUID) -> Any:
    return select(audits).where(
        scoped(audits, clinic_id),
        audits.c.parent_id.is_(None),
        audits.c.status == RunStatus.IN_PROGRESS.value,
    )


class SqlRunStore:
    """Audit rows in `case_sync_audits`; one transaction per call."""

    def __init__(self, engine: AsyncEngine, stale_after: timedelta = STALE_AFTER) -> None:
        self._engine = engine
        self._stale_after = stale_after

    async def start(
        self,
        *,
        clinic_id: UUID,
        sync_type: SyncType,
        triggered_by: Trigger,
        parent_id: UUID | None = None,
        at: datetime,
    ) -> RunRecord:
        """Create an `in_progress` row; `RunInProgressError` if the clinic has a live one."""
        at = utc(at)
        run = RunRecord(
            id=uuid.uuid4(),
            clinic_id=clinic_id,
            sync_type=SyncType(sync_type),
            status=RunStatus.IN_PROGRESS,
            triggered_by=Trigger(triggered_by),
            started_at=at,
            parent_id=parent_id,
            heartbeat_at=at,
        )
        try:
            return await self._insert(run)
        except IntegrityError:
            # The partial unique index refused a second live top-level run of this clinic.
            if parent_id is not None or not await self._take_over_stale(clinic_id, at):
                raise
        try:
            return await self._insert(run)
        except IntegrityError:
            live = await self.active(clinic_id=clinic_id)
            if live is None:
                raise
            raise RunInProgressError(run_id=live.id) from None

    async def _insert(self, run: RunRecord) -> RunRecord:
        async with storage_failures("open the run's audit row"), self._engine.begin() as conn:
            await conn.execute(
                insert(audits).values(
                    id=run.id,
                    clinic_id=run.clinic_id,
                    sync_type=run.sync_type.value,
                    status=run.status.value,
                    triggered_by=run.triggered_by.value,
                    parent_id=run.parent_id,
                    started_at=run.started_at,
                    heartbeat_at=run.heartbeat_at,
                    # Microseconds, on SQLite too: runs started in the same second keep order.
                    created_at=datetime.now(UTC),
                    updated_at=run.started_at,
                )
            )
        return run

    async def _take_over_stale(self, clinic_id: UUID, at: datetime) -> bool:
        """Mark the clinic's live run failed if its heartbeat is stale; True to retry."""
        live = await self.active(clinic_id=clinic_id)
        if live is None:
            return True  # it finished meanwhile (or the violation was something else)
        if at - (live.heartbeat_at or live.started_at) <= self._stale_after:
            raise RunInProgressError(run_id=live.id)
        # Conditional: a heartbeat that arrived since we read it keeps the run alive,
        # and of two processes taking over at once only one marks it.
        async with self._engine.begin() as conn:
            taken = await conn.execute(
                update(audits)
                .where(scoped(audits, clinic_id), audits.c.id == live.id)
                .where(audits.c.status == RunStatus.IN_PROGRESS.value)
                .where(at - self._stale_after > LAST_SIGN)
                .values(
                    status=RunStatus.FAILED.value,
                    error_message=ABANDONED,
                    completed_at=at,
                    updated_at=at,
                )
                .returning(*EVENT_COLUMNS)
            )
            await append_run_events(conn, list(taken), error_code=ABANDONED, at=at)
        return True

    async def progress(
        self, *, run_id: UUID, total_items: int, processed_items: int, percentage: int, at: datetime
    ) -> None:
        """Record progress (also the run's heartbeat)."""
        await self._update(
            "record the run's progress",
            run_id,
            total_items=total_items,
            processed_items=processed_items,
            progress_percentage=percentage,
            last_progress_update=at,
            heartbeat_at=at,
        )

    async def heartbeat(self, *, run_id: UUID, at: datetime) -> None:
        """Say the run is still alive."""
        await self._update("record the run's heartbeat", run_id, heartbeat_at=at)

    async def finish(
        self,
        *,
        run_id: UUID,
        status: RunStatus,
        counters: RunCounters,
        error_message: str | None,
        result: Mapping[str, Any] | None,
        at: datetime,
        error_code: str | None = None,
    ) -> None:
        """Close the run as completed or failed, with its counters and result.

        A top-level run whose status changes gets its `sync.*` event in the same
        transaction. Retried for a few seconds when the database is unavailable (e.g.
        restarting): a retry after a commit that did happen finds the status already
        set, so it adds no second event.
        """
        values = {
            "status": RunStatus(status).value,
            "error_message": error_message,
            "result": None if result is None else dict(result),
            "completed_at": at,
            **{name: getattr(counters, name) for name in COUNTERS},
        }
        for delay in (*CLOSE_RETRY_DELAYS, None):
            try:
                await self._close(run_id, values, error_code=error_code, at=at)
                return
            except StorageUnavailableError:
                if delay is None:
                    raise
                await asyncio.sleep(delay)

    async def _close(
        self, run_id: UUID, values: dict[str, Any], *, error_code: str | None, at: datetime
    ) -> None:
        """One transaction: the row closed and, if its status changed, its event."""
        async with storage_failures("close the run's audit row"), self._engine.begin() as conn:
            changes = {**values, "updated_at": datetime.now(UTC)}
            # A write first (SQLite takes its write lock here); it matches only when the
            # status changes, so that is when the run's event is due.
            changed = (
                await conn.execute(
                    update(audits)
                    .where(audits.c.id == run_id, audits.c.status != values["status"])
                    .values(**changes)
                    .returning(*EVENT_COLUMNS)
                )
            ).first()
            if changed is None:
                # Same status again (a retried close): the row is rewritten, no event.
                await conn.execute(update(audits).where(audits.c.id == run_id).values(**changes))
                return
            await append_run_events(conn, [changed], error_code=error_code, at=at)

    async def _update(self, action: str, run_id: UUID, **values: Any) -> None:
        # The port names runs by their random id alone: the caller got it from start().
        async with storage_failures(action), self._engine.begin() as conn:
            await conn.execute(
                update(audits)
                .where(audits.c.id == run_id)
                .values(**values, updated_at=datetime.now(UTC))
            )

    async def get(self, *, clinic_id: UUID, run_id: UUID) -> RunRecord | None:
        """One run of this clinic (None for another clinic's run)."""
        query = select(audits).where(scoped(audits, clinic_id), audits.c.id == run_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return None if row is None else _record(row)

    async def children(self, *, clinic_id: UUID, parent_id: UUID) -> list[RunRecord]:
        """The phase rows of a full run, in start order."""
        query = (
            select(audits)
            .where(scoped(audits, clinic_id), audits.c.parent_id == parent_id)
            .order_by(audits.c.started_at, audits.c.created_at)
        )
        async with self._engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query)]

    async def active(self, *, clinic_id: UUID) -> RunRecord | None:
        """The clinic's top-level run in progress, if any."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(_live(clinic_id))).first()
        return None if row is None else _record(row)

    async def history(
        self,
        *,
        clinic_id: UUID,
        limit: int = 20,
        sync_type: SyncType | None = None,
        status: RunStatus | None = None,
    ) -> list[RunRecord]:
        """The clinic's recent top-level runs, newest first."""
        query = select(audits).where(scoped(audits, clinic_id), audits.c.parent_id.is_(None))
        if sync_type is not None:
            query = query.where(audits.c.sync_type == SyncType(sync_type).value)
        if status is not None:
            query = query.where(audits.c.status == RunStatus(status).value)
        query = query.order_by(audits.c.started_at.desc(), audits.c.created_at.desc())
        async with self._engine.connect() as conn:
            return [_record(row) for row in await conn.execute(query.limit(limit))]
