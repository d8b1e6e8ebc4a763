"""The credential source port: a clinic's decrypted PIMS login."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from pims_sync.domain.credentials import PimsCredentials


class CredentialSource(Protocol):
    """Loads a clinic's PIMS credentials (SqlCredentialVault fits)."""

    async def load(self, clinic_id: UUID) -> PimsCredentials:
        """The decrypted credentials; NotFoundError when the clinic has none."""
        ...
