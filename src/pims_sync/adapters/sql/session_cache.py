"""PIMS session cookies in `pims_session_cache`, encrypted, with idle and absolute expiry.

A row is bound twice: its cookies are encrypted with the clinic id as associated data (a
row copied to another clinic does not decrypt), and it records the binding (a hash of
the credentials that opened it), so other credentials never reuse it.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from uuid import UUID

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync import crypto
from pims_sync.adapters.sql.tables import pims_session_cache
from pims_sync.adapters.sql.upsert import insert_for
from pims_sync.errors import DecryptionError

log = logging.getLogger(__name__)

# A separate key id gives the cache its own derived key (salt) apart from credentials.
KEY_ID = "pims-session-cache"
IDLE = timedelta(minutes=20)
ABSOLUTE = timedelta(hours=8)


class SqlSessionCache:
    """The SessionCache port on SQLite/Postgres; one short transaction per call."""

    def __init__(
        self,
        engine: AsyncEngine,
        key: str,
        *,
        idle: timedelta = IDLE,
        absolute: timedelta = ABSOLUTE,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._engine = engine
        self._key = key
        self._idle = idle
        self._absolute = absolute
        self._clock = clock

    async def load(self, clinic_id: UUID, binding: str | None = None) -> str | None:
        """The cookies if the session is within both expiries and of this binding.

        Expired rows, and rows of other credentials (or none recorded), are deleted.
        """
        query = select(
            pims_session_cache.c.encrypted_cookies,
            pims_session_cache.c.last_used_at,
            pims_session_cache.c.expires_at,
            pims_session_cache.c.binding,
        ).where(pims_session_cache.c.clinic_id == clinic_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        if row is None:
            return None
        now = self._clock()
        expired = now - row.last_used_at > self._idle or now >= row.expires_at
        if expired or row.binding != binding:
            await self.forget(clinic_id)
            return None
        try:
            return crypto.decrypt(row.encrypted_cookies, self._key, KEY_ID, bound_to=str(clinic_id))
        except DecryptionError:
            # Another key, or another clinic's row copied here: a fresh login, not a failure.
            log.warning("cached pims session undecryptable; dropped")
            await self.forget(clinic_id)
            return None

    async def save(self, clinic_id: UUID, cookies_json: str, binding: str | None = None) -> None:
        """Store a fresh login's cookies under its binding; the absolute expiry starts now."""
        now = self._clock()
        values = {
            "encrypted_cookies": self._seal(clinic_id, cookies_json),
            "created_at": now,
            "last_used_at": now,
            "expires_at": now + self._absolute,
            "binding": binding,
        }
        statement = insert_for(self._engine, pims_session_cache).values(
            id=uuid.uuid4(), clinic_id=clinic_id, **values
        )
        statement = statement.on_conflict_do_update(
            index_elements=[pims_session_cache.c.clinic_id], set_=values
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    async def touch(self, clinic_id: UUID, cookies_json: str | None = None) -> None:
        """Restart the idle clock (and keep refreshed cookies); absolute expiry unchanged."""
        values: dict[str, object] = {"last_used_at": self._clock()}
        if cookies_json is not None:
            values["encrypted_cookies"] = self._seal(clinic_id, cookies_json)
        statement = (
            update(pims_session_cache)
            .where(pims_session_cache.c.clinic_id == clinic_id)
            .values(**values)
        )
        async with self._engine.begin() as conn:
            await conn.execute(statement)

    def _seal(self, clinic_id: UUID, cookies_json: str) -> str:
        return crypto.encrypt(cookies_json, self._key, KEY_ID, bound_to=str(clinic_id))

    async def forget(self, clinic_id: UUID) -> None:
        """Drop the clinic's row."""
        statement = delete(pims_session_cache).where(pims_session_cache.c.clinic_id == clinic_id)
        async with self._engine.begin() as conn:
            await conn.execute(statement)
