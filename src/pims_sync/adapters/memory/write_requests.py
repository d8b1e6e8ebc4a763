"""Booking write requests in memory: each change happens between two awaits (atomic)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

from pims_sync.domain.instants import utc
from pims_sync.domain.outbox import plain_json
from pims_sync.domain.write_requests import WriteRequest, WriteRoute, WriteState
from pims_sync.ports.write_requests import Claim


class MemoryWriteRequestStore:
    """The `WriteRequestStore` in a dict by (clinic, key)."""

    def __init__(self) -> None:
        self.requests: dict[tuple[UUID, str], WriteRequest] = {}

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
        """A new pending request for the key, or the one stored."""
        stored = self.requests.get((clinic_id, key))
        if stored is not None:
            return Claim(stored, claimed=False)
        now = utc(now)
        request = WriteRequest(
            clinic_id=clinic_id,
            key=key,
            route=route,
            body_hash=body_hash,
            state=WriteState.PENDING,
            attempt=1,
            created_at=now,
            updated_at=now,
            lease_until=now + lease,
        )
        self.requests[(clinic_id, key)] = request
        return Claim(request, claimed=True)

    async def take_over(
        self, seen: WriteRequest, *, now: datetime, lease: timedelta
    ) -> WriteRequest | None:
        """Pending under the next attempt, if still at `seen.attempt`."""
        now = utc(now)
        return self._move(
            seen,
            state=WriteState.PENDING,
            attempt=seen.attempt + 1,
            lease_until=now + lease,
            updated_at=now,
        )

    async def save(
        self,
        held: WriteRequest,
        *,
        state: WriteState,
        result: Mapping[str, Any],
        now: datetime,
    ) -> WriteRequest | None:
        """Progress or outcome, if still at `held.attempt`."""
        current = self.requests.get((held.clinic_id, held.key))
        lease = current.lease_until if current and state is WriteState.PENDING else None
        return self._move(
            held, state=state, result=plain_json(result), lease_until=lease, updated_at=utc(now)
        )

    async def get(self, *, clinic_id: UUID, key: str) -> WriteRequest | None:
        """The clinic's request with this key, if any."""
        return self.requests.get((clinic_id, key))

    def _move(self, seen: WriteRequest, **changes: Any) -> WriteRequest | None:
        current = self.requests.get((seen.clinic_id, seen.key))
        if current is None or current.attempt != seen.attempt:
            return None
        moved = dataclasses.replace(current, **changes)
        self.requests[(seen.clinic_id, seen.key)] = moved
        return moved
