"""`clinic_sync_health` on SQLite and Postgres: the ClinicHealthStore port.

Every change is one transaction that begins by upserting the clinic's row with
`RETURNING` (which locks it on Postgres and takes SQLite's write lock), decides the
change and the status again on what it read, writes the row and appends the events to
the outbox last (`append_events`): a concurrent change waits, and sees the result.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.health_facts import (
    clinics_query,
    facts_of,
    health_of,
    last_successes,
    read_facts,
)
from pims_sync.adapters.sql.outbox import append_events
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import clinic_sync_health as health_rows
from pims_sync.adapters.sql.upsert import insert_for
from pims_sync.domain.freshness import ClinicFreshness, assess
from pims_sync.domain.health import (
    ClinicHealth,
    HealthChange,
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
from pims_sync.domain.schedules import DEFAULT_RULES, ScheduleRules
from pims_sync.errors import NotFoundError

# A change of the row, decided on what the transaction read.
Decide = Callable[[ClinicHealth], HealthChange]


class SqlClinicHealth:
    """The ClinicHealthStore port; `rules` are the schedules' (as the scheduler reads them)."""

    def __init__(self, engine: AsyncEngine, rules: ScheduleRules = DEFAULT_RULES) -> None:
        self._engine = engine
        self._rules = rules

    async def health(self, clinic_id: UUID) -> ClinicHealth:
        """The clinic's row (the defaults when it has none yet)."""
        query = select(health_rows).where(scoped(health_rows, clinic_id))
        async with storage_failures("read clinic health"), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return ClinicHealth(clinic_id) if row is None else health_of(row, clinic_id)

    async def paused(self) -> set[UUID]:
        """The ids of the paused clinics."""
        query = select(health_rows.c.clinic_id).where(health_rows.c.paused_at.is_not(None))
        async with storage_failures("read clinic health"), self._engine.connect() as conn:
            return set((await conn.execute(query)).scalars())

    async def run_ended(self, *, clinic_id: UUID, end: RunEnd, at: datetime) -> ClinicFreshness:
        """Count a top-level run, warn or pause by the rules, announce a new status."""
        return await self._change(clinic_id, at, lambda health: after_run(health, end, at))

    async def freshness(
        self, *, at: datetime, clinic_ids: Sequence[UUID] | None = None
    ) -> list[ClinicFreshness]:
        """The status of active clinics (these, or all), as of `at`; announces nothing."""
        async with storage_failures("read clinic health"), self._engine.connect() as conn:
            found = await read_facts(conn, clinic_ids, self._rules)
        return [assess(facts, at) for _, facts in found]

    async def reassess(self, *, at: datetime) -> list[ClinicFreshness]:
        """Decide every active clinic's status again and announce those that changed."""
        async with storage_failures("read clinic health"), self._engine.connect() as conn:
            found = await read_facts(conn, None, self._rules)
        statuses = []
        for health, facts in found:
            now = assess(facts, at)
            if now.status is not health.announced:
                # Decided again under the row's lock: another process may have announced it.
                now = await self._change(health.clinic_id, at, _unchanged)
            statuses.append(now)
        return statuses

    async def pause(self, *, clinic_id: UUID, reason: PauseReason, at: datetime) -> bool:
        """Pause the clinic (False: it already was, with its own reason)."""
        changed: list[bool] = []

        def decide(health: ClinicHealth) -> HealthChange:
            changed.append(not health.paused)
            return paused_now(health, reason, at)

        await self._change(clinic_id, at, decide)
        return changed[0]

    async def resume(
        self, *, clinic_id: UUID, at: datetime, by: str, only: PauseKind | None = None
    ) -> bool:
        """Resume a paused clinic (only one paused for `only`, if given); False: not paused."""
        changed: list[bool] = []

        def decide(health: ClinicHealth) -> HealthChange:
            pause = health.pause
            wanted = pause is not None and (only is None or pause.kind is only)
            changed.append(wanted)
            return resumed(health, at, by) if wanted else _unchanged(health)

        await self._change(clinic_id, at, decide)
        return changed[0]

    async def configure(
        self, *, clinic_id: UUID, limits: Mapping[Limit, int | None]
    ) -> ClinicHealth:
        """Set the clinic's own limits (None: back to the default); the row as it is now."""
        values = {limit.value: check_limit(limit, value) for limit, value in limits.items()}

        async def write(conn: AsyncConnection) -> None:
            if values:
                statement = update(health_rows).where(scoped(health_rows, clinic_id))
                await conn.execute(statement.values(**values))

        # New thresholds may change the status: it is decided again in the same transaction.
        await self._change(clinic_id, datetime.now(UTC), _unchanged, before=write)
        return await self.health(clinic_id)

    async def _change(
        self,
        clinic_id: UUID,
        at: datetime,
        decide: Decide,
        *,
        before: Callable[[AsyncConnection], Awaitable[None]] | None = None,
    ) -> ClinicFreshness:
        """Lock the row, apply `decide`, decide the status again, write both and the events."""
        async with storage_failures("write clinic health"), self._engine.begin() as conn:
            await _lock(conn, clinic_id)
            if before is not None:
                await before(conn)
            row = (await conn.execute(clinics_query([clinic_id], active_only=False))).one()
            change = decide(health_of(row, clinic_id))
            successes = await last_successes(conn, [clinic_id])
            status = assess(facts_of(row, change.health, successes, self._rules), at)
            announced = announcement(change.health, status)
            await _write(conn, announced.health, at, changed=announced.events != [])
            events = change.events + announced.events
            if events:
                await append_events(conn, clinic_id=clinic_id, events=events, at=at)
        return status


def _unchanged(health: ClinicHealth) -> HealthChange:
    return HealthChange(health, [])


async def _lock(conn: AsyncConnection, clinic_id: UUID) -> None:
    """Create the clinic's row if missing and hold it (Postgres row lock, SQLite write lock)."""
    statement = insert_for(conn.engine, health_rows).values(id=uuid.uuid4(), clinic_id=clinic_id)
    statement = statement.on_conflict_do_update(
        index_elements=[health_rows.c.clinic_id],
        set_={"clinic_id": statement.excluded.clinic_id},
    ).returning(health_rows.c.id)
    try:
        await conn.execute(statement)
    except IntegrityError:  # the only constraint an upsert can break here: the clinic's
        raise NotFoundError(f"Clinic not found: {clinic_id}") from None


async def _write(
    conn: AsyncConnection, health: ClinicHealth, at: datetime, *, changed: bool
) -> None:
    values: dict[str, Any] = {
        "paused_at": health.paused_at,
        "paused_reason": health.paused_reason,
        "consecutive_failures": health.consecutive_failures,
        "freshness_status": None if health.announced is None else health.announced.value,
        "updated_at": at,
    }
    if changed:
        values["freshness_changed_at"] = at
    await conn.execute(
        update(health_rows).where(scoped(health_rows, health.clinic_id)).values(**values)
    )
