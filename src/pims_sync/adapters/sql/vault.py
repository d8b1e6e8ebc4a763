"""The credentials vault: PIMS credentials encrypted at rest, with key rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync import crypto
from pims_sync.adapters.sql.credentials import SqlCredentialStore
from pims_sync.adapters.sql.tables import pims_credentials
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import DecryptionError, NotFoundError

DEFAULT_PROVIDER = "idexx"
KEY_HINT = (
    "check that ENCRYPTION_KEY (or ENCRYPTION_KEY_PREVIOUS, during a key rotation) "
    "is the key they were stored with"
)


class SqlCredentialVault:
    """Saves and loads a clinic's PIMS credentials, encrypted as the original does."""

    def __init__(self, engine: AsyncEngine, key: str, previous_key: str | None = None) -> None:
        self._engine = engine
        self._store = SqlCredentialStore(engine)
        self._key = key
        self._keys = (key, previous_key)

    async def save(
        self, clinic_id: UUID, credentials: PimsCredentials, provider_type: str = DEFAULT_PROVIDER
    ) -> None:
        """Encrypt under the current key and insert or replace the clinic's row."""
        data = crypto.encrypt(credentials.to_json(), self._key)
        await self._store.put(clinic_id=clinic_id, encrypted_data=data, provider_type=provider_type)

    async def load(self, clinic_id: UUID) -> PimsCredentials:
        """The clinic's credentials; NotFoundError or DecryptionError naming the clinic."""
        data = await self._store.get(clinic_id)
        if data is None:
            raise NotFoundError(f"no PIMS credentials stored for clinic {clinic_id}")
        return PimsCredentials.from_json(self._open(clinic_id, data))

    async def has(self, clinic_id: UUID) -> bool:
        """Whether the clinic has credentials stored (without decrypting them)."""
        return await self._store.get(clinic_id) is not None

    async def rotate(self) -> int:
        """Re-encrypt every row under the current key in one transaction; return the count.

        Rows that open with neither key abort the whole rotation (nothing is written),
        so a typo in ENCRYPTION_KEY_PREVIOUS cannot leave a half-rotated table.
        """
        async with self._engine.begin() as conn:
            rows = await self._locked_rows(conn)
            fresh: list[tuple[UUID, str, str]] = []
            unreadable: list[str] = []
            for clinic_id, data in rows:
                try:
                    plaintext = crypto.decrypt_with_fallback(data, self._keys)
                except DecryptionError:
                    unreadable.append(str(clinic_id))
                    continue
                fresh.append((clinic_id, data, crypto.encrypt(plaintext, self._key)))
            if unreadable:
                raise DecryptionError(
                    "could not decrypt the PIMS credentials of clinic(s) "
                    f"{', '.join(unreadable)} with any configured key; "
                    f"nothing was changed; {KEY_HINT}"
                )
            await self._write(conn, fresh)
        return len(fresh)

    def _open(self, clinic_id: UUID, data: str) -> str:
        try:
            return crypto.decrypt_with_fallback(data, self._keys)
        except DecryptionError as error:
            raise DecryptionError(
                f"could not decrypt the PIMS credentials of clinic {clinic_id}: "
                f"{error.message.removeprefix('could not decrypt: ')}; {KEY_HINT}",
                clinic_id=str(clinic_id),
            ) from None

    @staticmethod
    async def _locked_rows(conn: AsyncConnection) -> list[tuple[UUID, str]]:
        # FOR UPDATE on Postgres keeps a concurrent `credentials set` from being
        # overwritten by an older re-encrypted copy; SQLite serialises writers anyway.
        query = select(pims_credentials.c.clinic_id, pims_credentials.c.encrypted_data)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        return [(row.clinic_id, row.encrypted_data) for row in await conn.execute(query)]

    @staticmethod
    async def _write(conn: AsyncConnection, rows: list[tuple[UUID, str, str]]) -> None:
        now = datetime.now(UTC)
        for clinic_id, old, new in rows:
            await conn.execute(
                update(pims_credentials)
                .where(pims_credentials.c.clinic_id == clinic_id)
                .where(pims_credentials.c.encrypted_data == old)
                .values(encrypted_data=new, updated_at=now)
            )
