"""The dashboard's reads across many clinics, each one batched query (not one per clinic)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.runs import _record
from pims_sync.adapters.sql.tables import case_sync_audits as audits
from pims_sync.adapters.sql.tables import cases
from pims_sync.domain.instants import assume_utc
from pims_sync.domain.runs import RunRecord

WRITTEN = (
    audits.c.cases_created
    + audits.c.cases_updated
    + audits.c.cases_enriched
    + audits.c.cases_deleted
)


@dataclass(frozen=True, slots=True)
class RunPoint:
    """What the charts need of one top-level run."""

    started_at: datetime
    completed_at: datetime | None
    status: str
    cases_written: int


class SqlDashboardReads:
    """Latest runs, runs since an instant and cases ahead, for a set of clinics at once."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def latest_runs(self, clinic_ids: Sequence[UUID]) -> dict[UUID, RunRecord]:
        """Each clinic's newest top-level run (clinics without one are left out)."""
        if not clinic_ids:
            return {}
        rank = (
            func.row_number()
            .over(
                partition_by=audits.c.clinic_id,
                order_by=(audits.c.started_at.desc(), audits.c.created_at.desc()),
            )
            .label("rank")
        )
        ranked = (
            select(audits, rank)
            .where(audits.c.clinic_id.in_(clinic_ids), audits.c.parent_id.is_(None))
            .subquery()
        )
        query = select(ranked).where(ranked.c.rank == 1)
        async with storage_failures("read runs"), self._engine.connect() as conn:
            return {row.clinic_id: _record(row) for row in await conn.execute(query)}

    async def runs_since(
        self, clinic_ids: Sequence[UUID], since: datetime, limit: int = 2000
    ) -> list[RunRecord]:
        """Top-level runs of these clinics started at or after `since`, oldest first."""
        if not clinic_ids:
            return []
        query = (
            select(audits)
            .where(audits.c.clinic_id.in_(clinic_ids), audits.c.parent_id.is_(None))
            .where(audits.c.started_at >= since)
            .order_by(audits.c.started_at.desc())
            .limit(limit)
        )
        async with storage_failures("read runs"), self._engine.connect() as conn:
            rows = [_record(row) for row in await conn.execute(query)]
        return rows[::-1]

    async def cases_ahead(
        self, clinic_ids: Sequence[UUID], start: datetime, end: datetime
    ) -> dict[UUID, int]:
        """How many cases each clinic has scheduled in [start, end)."""
        if not clinic_ids:
            return {}
        query = (
            select(cases.c.clinic_id, func.count())
            .where(cases.c.clinic_id.in_(clinic_ids))
            .where(cases.c.scheduled_at >= start, cases.c.scheduled_at < end)
            .group_by(cases.c.clinic_id)
        )
        async with storage_failures("read cases"), self._engine.connect() as conn:
            return {row[0]: int(row[1]) for row in await conn.execute(query)}

    async def run_points(self, clinic_ids: Sequence[UUID], since: datetime) -> list[RunPoint]:
        """Start, end, outcome and cases written of these clinics' top-level runs since then."""
        if not clinic_ids:
            return []
        query = (
            select(audits.c.started_at, audits.c.completed_at, audits.c.status, WRITTEN)
            .where(audits.c.clinic_id.in_(clinic_ids), audits.c.parent_id.is_(None))
            .where(audits.c.started_at >= since)
        )
        async with storage_failures("read runs"), self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [
            RunPoint(
                assume_utc(row[0]),
                None if row[1] is None else assume_utc(row[1]),
                str(row[2]),
                int(row[3] or 0),
            )
            for row in rows
        ]
