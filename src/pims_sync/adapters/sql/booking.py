"""BookingConfigStore on SQLite and Postgres: one JSON document per clinic."""

from __future__ import annotations

import uuid
from datetime import datetime
from uuid import UUID

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.failures import storage_failures
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import clinic_booking_configs as configs
from pims_sync.adapters.sql.upsert import insert_for
from pims_sync.domain.booking import DEFAULT_RULES, BookingRules, parse_rules, rules_document
from pims_sync.ports.booking import BookingConfig


class SqlBookingConfigStore:
    """`clinic_booking_configs`: the rules as their document, read back through `parse_rules`."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def get(self, clinic_id: UUID) -> BookingConfig:
        """The clinic's rules, or the defaults when it has none."""
        query = select(configs.c.rules, configs.c.updated_at).where(scoped(configs, clinic_id))
        async with storage_failures("read booking rules"), self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        if row is None:
            return BookingConfig(clinic_id, DEFAULT_RULES)
        # Stored by `put` from valid rules; read through the same parser as any input.
        return BookingConfig(clinic_id, parse_rules(row.rules), row.updated_at)

    async def put(self, clinic_id: UUID, rules: BookingRules, *, at: datetime) -> BookingConfig:
        """Replace the clinic's rules."""
        document = rules_document(rules)
        statement = insert_for(self._engine, configs).values(
            id=uuid.uuid4(), clinic_id=clinic_id, rules=document, updated_at=at
        )
        statement = statement.on_conflict_do_update(
            index_elements=["clinic_id"], set_={"rules": document, "updated_at": at}
        )
        async with storage_failures("write booking rules"), self._engine.begin() as conn:
            await conn.execute(statement)
        return BookingConfig(clinic_id, rules, at)
