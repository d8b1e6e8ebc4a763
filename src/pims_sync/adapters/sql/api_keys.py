"""API key rows: created hashed, looked up by prefix, never returned in clear."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from sqlalchemy import insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.tables import clinic_api_keys
from pims_sync.domain.api_keys import ApiKey, generate_key, hash_key, key_prefix

LAST_USED_RESOLUTION = timedelta(minutes=1)


def _api_key(row: Any) -> ApiKey:
    permissions = row.permissions
    return ApiKey(
        id=row.id,
        clinic_id=row.clinic_id,
        name=row.name,
        key_prefix=row.key_prefix,
        key_hash=row.key_hash,
        permissions=tuple(permissions) if permissions is not None else None,
        is_active=row.is_active,
        expires_at=row.expires_at,
        last_used_at=row.last_used_at,
        created_at=row.created_at,
    )


class SqlApiKeyStore:
    """Creates, finds, lists and revokes API keys; one transaction per call."""

    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self,
        *,
        clinic_id: UUID | None,
        name: str = "default",
        permissions: list[str] | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Store a new key; return the row and the key itself (shown once)."""
        key = generate_key()
        key_id = uuid.uuid4()
        values = {
            "id": key_id,
            "clinic_id": clinic_id,
            "name": name,
            "key_prefix": key_prefix(key),
            "key_hash": hash_key(key),
            "permissions": permissions,
            "expires_at": expires_at,
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(clinic_api_keys).values(**values))
            row = (
                await conn.execute(select(clinic_api_keys).where(clinic_api_keys.c.id == key_id))
            ).one()
        return _api_key(row), key

    async def find_by_prefix(self, prefix: str) -> list[ApiKey]:
        """Every key whose first 8 characters are these (several may share them)."""
        query = select(clinic_api_keys).where(clinic_api_keys.c.key_prefix == prefix)
        async with self._engine.connect() as conn:
            return [_api_key(row) for row in await conn.execute(query)]

    async def touch(self, key_id: UUID, now: datetime) -> None:
        """Record use, at most once a minute per key (one conditional UPDATE)."""
        column = clinic_api_keys.c.last_used_at
        query = (
            update(clinic_api_keys)
            .where(clinic_api_keys.c.id == key_id)
            .where(or_(column.is_(None), column < now - LAST_USED_RESOLUTION))
            .values(last_used_at=now)
        )
        async with self._engine.begin() as conn:
            await conn.execute(query)

    async def list(self, clinic_id: UUID | None = None) -> list[ApiKey]:
        """Keys, of one clinic or all, newest first."""
        query = select(clinic_api_keys).order_by(clinic_api_keys.c.created_at.desc())
        if clinic_id is not None:
            query = query.where(clinic_api_keys.c.clinic_id == clinic_id)
        async with self._engine.connect() as conn:
            return [_api_key(row) for row in await conn.execute(query)]

    async def revoke(self, key_id: UUID) -> bool:
        """Disable a key; False when there is no such key."""
        query = update(clinic_api_keys).where(clinic_api_keys.c.id == key_id)
        async with self._engine.begin() as conn:
            result = await conn.execute(query.values(is_active=False))
        return result.rowcount > 0
