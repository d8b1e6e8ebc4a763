"""The credentials vault: PIMS credentials encrypted at rest, with key rotation."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import UUID

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync import crypto
from pims_sync.adapters.sql.credentials import SqlCredentialStore
from pims_sync.adapters.sql.tables import pims_credentials
from pims_sync.domain.credentials import PimsCredentials, check_base_url
from pims_sync.errors import DecryptionError, InvalidInputError, NotFoundError

DEFAULT_PROVIDER = "idexx"
KEY_HINT = (
    "check that ENCRYPTION_KEY (or ENCRYPTION_KEY_PREVIOUS, during a key rotation) "
    "is the key they were stored with"
)


class SqlCredentialVault:
    """Saves and loads a clinic's PIMS credentials, encrypted and bound to the clinic's row.

    New blobs carry the clinic id as AES-GCM associated data: copied into another clinic's
    row they do not decrypt. Unbound blobs (the original's) still open until `rotate`.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        key: str,
        previous_key: str | None = None,
        *,
        allow_private_base_url: bool = False,
    ) -> None:
        self._engine = engine
        self._store = SqlCredentialStore(engine)
        self._key = key
        self._keys = (key, previous_key)
        self._allow_private = allow_private_base_url

    async def save(
        self, clinic_id: UUID, credentials: PimsCredentials, provider_type: str = DEFAULT_PROVIDER
    ) -> None:
        """Encrypt under the current key, bound to the clinic, and insert or replace its row."""
        data = crypto.encrypt(credentials.to_json(), self._key, bound_to=str(clinic_id))
        await self._store.put(clinic_id=clinic_id, encrypted_data=data, provider_type=provider_type)

    async def load(self, clinic_id: UUID) -> PimsCredentials:
        """The clinic's credentials; NotFoundError or DecryptionError naming the clinic."""
        data = await self._store.get(clinic_id)
        if data is None:
            raise NotFoundError(f"no PIMS credentials stored for clinic {clinic_id}")
        credentials = PimsCredentials.from_json(self._open(clinic_id, data))
        if credentials.base_url is not None:
            self._check_base_url(clinic_id, credentials.base_url)
        return credentials

    def _check_base_url(self, clinic_id: UUID, base_url: str) -> None:
        """A row stored before the base URL rules (or by hand) is refused, not used."""
        try:
            check_base_url(base_url, allow_private=self._allow_private)
        except InvalidInputError as error:
            raise InvalidInputError(
                f"the stored PIMS base URL of clinic {clinic_id} is refused: {error.message}; "
                "store it again with `pims-sync credentials set`",
                clinic_id=str(clinic_id),
            ) from None

    async def has(self, clinic_id: UUID) -> bool:
        """Whether the clinic has credentials stored (without decrypting them)."""
        return await self._store.get(clinic_id) is not None

    async def rotate(self) -> int:
        """Re-encrypt every row under the current key, bound to its clinic; return the count.

        One transaction: rows that open with neither key abort the whole rotation (nothing
        is written), so a typo in ENCRYPTION_KEY_PREVIOUS cannot leave a half-rotated table.
        Unbound rows (the original's format) come out bound.
        """
        async with self._engine.begin() as conn:
            fresh, unreadable = self._reencrypt(await self._locked_rows(conn))
            if unreadable:
                raise DecryptionError(
                    "could not decrypt the PIMS credentials of clinic(s) "
                    f"{', '.join(unreadable)} with any configured key; "
                    f"nothing was changed; {KEY_HINT}"
                )
            await self._write(conn, fresh)
        return len(fresh)

    def _reencrypt(
        self, rows: list[tuple[UUID, str]]
    ) -> tuple[list[tuple[UUID, str, str]], list[str]]:
        """(clinic id, old, new blob) per row that opens; the ids of those that do not."""
        fresh: list[tuple[UUID, str, str]] = []
        unreadable: list[str] = []
        for clinic_id, data in rows:
            bound_to = str(clinic_id)
            try:
                plaintext = crypto.decrypt_with_fallback(data, self._keys, bound_to=bound_to)
            except DecryptionError:
                unreadable.append(bound_to)
                continue
            fresh.append((clinic_id, data, crypto.encrypt(plaintext, self._key, bound_to=bound_to)))
        return fresh, unreadable

    def _open(self, clinic_id: UUID, data: str) -> str:
        try:
            return crypto.decrypt_with_fallback(data, self._keys, bound_to=str(clinic_id))
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
