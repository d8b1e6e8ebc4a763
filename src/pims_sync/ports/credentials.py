"""The credential ports: a clinic's decrypted PIMS login, and the vault that keeps them."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from pims_sync.domain.credentials import PimsCredentials


class CredentialSource(Protocol):
    """Loads a clinic's PIMS credentials (SqlCredentialVault fits)."""

    async def load(self, clinic_id: UUID) -> PimsCredentials:
        """The decrypted credentials; NotFoundError when the clinic has none."""
        ...


class CredentialVault(CredentialSource, Protocol):
    """Keeps clinics' PIMS credentials encrypted, each bound to its clinic."""

    async def save(self, clinic_id: UUID, credentials: PimsCredentials) -> None:
        """Encrypt under the current key and insert or replace the clinic's row."""
        ...

    async def has(self, clinic_id: UUID) -> bool:
        """Whether the clinic has credentials stored (without decrypting them)."""
        ...

    async def rotate(self) -> int:
        """Re-encrypt every row under the current key; the count, or DecryptionError."""
        ...
