"""WriteRequestStore: booking write requests by clinic and Idempotency-Key (exactly once)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from pims_sync.domain.write_requests import WriteRequest, WriteRoute, WriteState


@dataclass(frozen=True, slots=True)
class Claim:
    """A key's request: `claimed` when this call made it (pending, leased), else as stored."""

    request: WriteRequest
    claimed: bool


class WriteRequestStore(Protocol):
    """Write requests; every method is scoped by `clinic_id`, every change is atomic."""

    async def claim(
        self,
        *,
        clinic_id: UUID,
        key: str,
        route: WriteRoute,
        body_hash: str,
        now: datetime,
        lease: timedelta,
    ) -> Claim:
        """A new pending request for the key, or the one stored (of two callers, one claims)."""
        ...

    async def take_over(
        self, seen: WriteRequest, *, now: datetime, lease: timedelta
    ) -> WriteRequest | None:
        """Pending again under the next attempt, if still as `seen` (else None: someone did)."""
        ...

    async def save(
        self,
        held: WriteRequest,
        *,
        state: WriteState,
        result: Mapping[str, Any],
        now: datetime,
    ) -> WriteRequest | None:
        """Store progress (pending keeps the lease) or an outcome, if `held.attempt` still holds.

        None when another request took the write over since (its attempt is newer).
        """
        ...

    async def get(self, *, clinic_id: UUID, key: str) -> WriteRequest | None:
        """The clinic's request with this key, if any."""
        ...
