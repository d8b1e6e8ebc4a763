"""Clinic rows."""

from __future__ import annotations

import uuid
from typing import Any
from uuid import UUID

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.tables import clinics
from pims_sync.domain.clinics import DEFAULT_TIMEZONE, Clinic


def _clinic(row: Any) -> Clinic:
    return Clinic(
        id=row.id,
        name=row.name,
        timezone=row.timezone,
        pims_type=row.pims_type,
        is_active=row.is_active,
        created_at=row.created_at,
    )


class SqlClinicStore:
    """Creates and reads clinics; one transaction per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def add(self, *, name: str, timezone: str = DEFAULT_TIMEZONE) -> Clinic:
        """Create a clinic and return it."""
        clinic_id = uuid.uuid4()
        async with self._engine.begin() as conn:
            await conn.execute(insert(clinics).values(id=clinic_id, name=name, timezone=timezone))
            row = (await conn.execute(select(clinics).where(clinics.c.id == clinic_id))).one()
        return _clinic(row)

    async def get(self, clinic_id: UUID) -> Clinic | None:
        """The clinic with this id, if any."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(clinics).where(clinics.c.id == clinic_id))).first()
        return _clinic(row) if row else None

    async def list(self) -> list[Clinic]:
        """All clinics, oldest first."""
        async with self._engine.connect() as conn:
            rows = await conn.execute(
                select(clinics).order_by(clinics.c.created_at, clinics.c.name)
            )
        return [_clinic(row) for row in rows]
