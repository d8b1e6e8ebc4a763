"""The API key ports: what authentication reads, and the admin store the CLI uses."""

from __future__ import annotations

import builtins
from datetime import datetime
from typing import Protocol
from uuid import UUID

from pims_sync.domain.api_keys import ApiKey


class ApiKeyLookup(Protocol):
    """What authentication needs from the API key store."""

    async def find_by_prefix(self, prefix: str) -> builtins.list[ApiKey]:
        """Every key whose first 8 characters are these (several may share them)."""
        ...

    async def touch(self, key_id: UUID, now: datetime) -> None:
        """Record that the key was used now (at most once a minute per key)."""
        ...


class ApiKeyStore(ApiKeyLookup, Protocol):
    """Creates, lists and revokes API keys; one transaction per call."""

    async def create(
        self,
        *,
        clinic_id: UUID | None,
        name: str = "default",
        permissions: builtins.list[str] | None = None,
        expires_at: datetime | None = None,
    ) -> tuple[ApiKey, str]:
        """Store a new key; return the row and the key itself (shown once)."""
        ...

    async def list(self, clinic_id: UUID | None = None) -> builtins.list[ApiKey]:
        """Keys, of one clinic or all, newest first."""
        ...

    async def revoke(self, key_id: UUID) -> bool:
        """Disable a key; False when there is no such key."""
        ...
