"""Webhook endpoints (secrets encrypted, bound to their clinic) and their delivery log."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any
from uuid import UUID

from sqlalchemy import ColumnElement, and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from pims_sync import crypto
from pims_sync.adapters.sql.scope import scoped
from pims_sync.adapters.sql.tables import (
    sync_event_sequences,
    webhook_deliveries,
    webhook_endpoints,
)
from pims_sync.domain.webhooks import (
    DeliveryAttempt,
    DeliveryOutcome,
    NewEndpoint,
    WebhookEndpoint,
    next_version,
)
from pims_sync.errors import DecryptionError

KEY_HINT = (
    "check that ENCRYPTION_KEY (or ENCRYPTION_KEY_PREVIOUS, during a key rotation) "
    "is the key it was stored with; else remove the webhook and add it again"
)

ep = webhook_endpoints.c


def _endpoint(row: Any) -> WebhookEndpoint:
    types = row.event_types
    return WebhookEndpoint(
        id=row.id,
        clinic_id=row.clinic_id,
        url=row.url,
        description=row.description,
        event_types=None if types is None else tuple(types),
        is_active=row.is_active,
        disabled_reason=row.disabled_reason,
        disabled_at=row.disabled_at,
        delivered_seq=row.delivered_seq,
        attempt=row.attempt,
        next_attempt_at=row.next_attempt_at,
        failing_since=row.failing_since,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _attempt(row: Any) -> DeliveryAttempt:
    return DeliveryAttempt(
        endpoint_id=row.endpoint_id,
        clinic_id=row.clinic_id,
        event_id=row.event_id,
        seq=row.seq,
        attempt=row.attempt,
        outcome=DeliveryOutcome(row.outcome),
        status_code=row.status_code,
        duration_ms=row.duration_ms,
        error=row.error,
        attempted_at=row.attempted_at,
    )


def _log_row(attempt: DeliveryAttempt) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "endpoint_id": attempt.endpoint_id,
        "clinic_id": attempt.clinic_id,
        "event_id": attempt.event_id,
        "seq": attempt.seq,
        "attempt": attempt.attempt,
        "outcome": attempt.outcome.value,
        "status_code": attempt.status_code,
        "duration_ms": attempt.duration_ms,
        "error": attempt.error,
        "attempted_at": attempt.attempted_at,
    }


def _mine(endpoint_id: UUID, clinic_id: UUID | None) -> ColumnElement[bool]:
    """One endpoint, inside one clinic when a clinic is given."""
    condition = ep.id == endpoint_id
    return condition if clinic_id is None else and_(condition, scoped(webhook_endpoints, clinic_id))


class SqlWebhookStore:
    """The `WebhookStore` on SQLite and Postgres; one transaction per call."""

    def __init__(
        self, engine: AsyncEngine, key: Callable[[], str], previous_key: str | None = None
    ) -> None:
        # The key is asked for only when a secret is sealed or opened: listing endpoints
        # and finding due ones work without ENCRYPTION_KEY.
        self._engine = engine
        self._key = key
        self._previous = previous_key

    async def add(
        self, endpoint: NewEndpoint, *, secret: str, delivered_seq: int, at: datetime
    ) -> WebhookEndpoint:
        """Store a new active endpoint whose cursor starts at `delivered_seq`."""
        endpoint_id = uuid.uuid4()
        sealed = crypto.encrypt(secret, self._key(), bound_to=str(endpoint.clinic_id))
        values = {
            "id": endpoint_id,
            "clinic_id": endpoint.clinic_id,
            "url": endpoint.url,
            "description": endpoint.description,
            "event_types": None if endpoint.event_types is None else list(endpoint.event_types),
            "encrypted_secret": sealed,
            "delivered_seq": delivered_seq,
            "created_at": at,
            "updated_at": at,
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(webhook_endpoints).values(**values))
            return await self._one(conn, endpoint_id)

    @staticmethod
    async def _one(conn: AsyncConnection, endpoint_id: UUID) -> WebhookEndpoint:
        row = (await conn.execute(select(webhook_endpoints).where(ep.id == endpoint_id))).one()
        return _endpoint(row)

    async def endpoints(self, clinic_id: UUID | None = None) -> list[WebhookEndpoint]:
        """A clinic's endpoints (every clinic's for None), oldest first."""
        query = select(webhook_endpoints).order_by(ep.created_at, ep.id)
        if clinic_id is not None:
            query = query.where(scoped(webhook_endpoints, clinic_id))
        async with self._engine.connect() as conn:
            return [_endpoint(row) for row in await conn.execute(query)]

    async def get(
        self, endpoint_id: UUID, *, clinic_id: UUID | None = None
    ) -> WebhookEndpoint | None:
        """One endpoint (only if it is this clinic's, when a clinic is given)."""
        query = select(webhook_endpoints).where(_mine(endpoint_id, clinic_id))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).one_or_none()
        return None if row is None else _endpoint(row)

    async def remove(self, *, clinic_id: UUID | None, endpoint_id: UUID) -> bool:
        """Delete an endpoint and its delivery log; whether it existed (for that clinic)."""
        async with self._engine.begin() as conn:
            found = await conn.execute(
                select(ep.id).where(_mine(endpoint_id, clinic_id)).with_for_update()
            )
            if found.one_or_none() is None:
                return False
            # SQLite enforces no foreign keys here: the log goes explicitly.
            await conn.execute(
                delete(webhook_deliveries).where(webhook_deliveries.c.endpoint_id == endpoint_id)
            )
            await conn.execute(delete(webhook_endpoints).where(ep.id == endpoint_id))
        return True

    async def secret(self, endpoint: WebhookEndpoint) -> str:
        """The endpoint's signing secret, decrypted with the current (or previous) key."""
        query = select(ep.encrypted_secret).where(ep.id == endpoint.id)
        async with self._engine.connect() as conn:
            sealed = (await conn.execute(query)).scalar_one()
        try:
            return crypto.decrypt_with_fallback(
                sealed, (self._key(), self._previous), bound_to=str(endpoint.clinic_id)
            )
        except DecryptionError as error:
            raise DecryptionError(
                f"could not decrypt the secret of webhook {endpoint.id}: "
                f"{error.message.removeprefix('could not decrypt: ')}; {KEY_HINT}",
                clinic_id=str(endpoint.clinic_id),
            ) from None

    async def due(self, *, at: datetime, limit: int) -> list[WebhookEndpoint]:
        """Active endpoints behind their clinic's last seq, with no retry waiting past `at`."""
        seqs = sync_event_sequences.c
        query = (
            select(webhook_endpoints)
            .join(sync_event_sequences, seqs.clinic_id == ep.clinic_id)
            .where(ep.is_active.is_(True))
            .where(ep.delivered_seq < seqs.last_seq)
            .where(or_(ep.next_attempt_at.is_(None), ep.next_attempt_at <= at))
            .order_by(ep.next_attempt_at.is_not(None), ep.next_attempt_at, ep.id)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_endpoint(row) for row in await conn.execute(query)]

    async def advance(
        self,
        *,
        endpoint_id: UUID,
        version: datetime,
        to_seq: int,
        delivered: Sequence[DeliveryAttempt],
        at: datetime,
    ) -> datetime | None:
        """Move the cursor to `to_seq` (clearing the retry state) and log the 2xx attempts."""
        async with self._engine.begin() as conn:
            written = await self._move(
                conn,
                endpoint_id,
                version,
                delivered_seq=to_seq,
                attempt=0,
                next_attempt_at=None,
                failing_since=None,
                at=at,
            )
            if delivered:
                rows = [_log_row(attempt) for attempt in delivered]
                await conn.execute(insert(webhook_deliveries), rows)
        return written

    @staticmethod
    async def _move(
        conn: AsyncConnection, endpoint_id: UUID, version: datetime, **values: Any
    ) -> datetime | None:
        """Update the endpoint if it is still at `version`; the version written, or None."""
        written = next_version(version, values.pop("at"))
        result = await conn.execute(
            update(webhook_endpoints)
            .where(ep.id == endpoint_id)
            .where(ep.updated_at == version)
            .values(updated_at=written, **values)
        )
        return written if result.rowcount == 1 else None

    async def failed(
        self,
        attempt: DeliveryAttempt,
        *,
        version: datetime,
        next_attempt_at: datetime | None,
        failing_since: datetime,
    ) -> datetime | None:
        """Log a failed attempt and record when to try that event again."""
        async with self._engine.begin() as conn:
            written = await self._move(
                conn,
                attempt.endpoint_id,
                version,
                attempt=attempt.attempt,
                next_attempt_at=next_attempt_at,
                failing_since=failing_since,
                at=attempt.attempted_at,
            )
            await conn.execute(insert(webhook_deliveries).values(**_log_row(attempt)))
        return written

    async def log_attempt(self, attempt: DeliveryAttempt) -> None:
        """Log an attempt that moves no cursor (a test event)."""
        async with self._engine.begin() as conn:
            await conn.execute(insert(webhook_deliveries).values(**_log_row(attempt)))

    async def disable(self, *, endpoint_id: UUID, reason: str, at: datetime) -> bool:
        """Stop delivering to an endpoint (its cursor stays); whether it was active."""
        async with self._engine.begin() as conn:
            current = await self._version(conn, _mine(endpoint_id, None))
            if current is None:
                return False
            query = (
                update(webhook_endpoints)
                .where(ep.id == endpoint_id)
                .where(ep.is_active.is_(True))
                .values(
                    is_active=False,
                    disabled_reason=reason,
                    disabled_at=at,
                    next_attempt_at=None,
                    updated_at=next_version(current, at),
                )
            )
            return (await conn.execute(query)).rowcount == 1

    @staticmethod
    async def _version(conn: AsyncConnection, which: ColumnElement[bool]) -> datetime | None:
        """The endpoint's version, its row locked (on Postgres) until the transaction ends."""
        query = select(ep.updated_at).where(which)
        if conn.dialect.name == "postgresql":
            query = query.with_for_update()
        found: datetime | None = (await conn.execute(query)).scalar_one_or_none()
        return found

    async def replay(
        self, *, clinic_id: UUID | None, endpoint_id: UUID, from_seq: int, at: datetime
    ) -> WebhookEndpoint | None:
        """Deliver again from `from_seq`: cursor to `from_seq - 1`, retry state cleared, active."""
        async with self._engine.begin() as conn:
            current = await self._version(conn, _mine(endpoint_id, clinic_id))
            if current is None:
                return None
            await conn.execute(
                update(webhook_endpoints)
                .where(ep.id == endpoint_id)
                .values(
                    delivered_seq=max(from_seq - 1, 0),
                    attempt=0,
                    next_attempt_at=None,
                    failing_since=None,
                    is_active=True,
                    disabled_reason=None,
                    disabled_at=None,
                    updated_at=next_version(current, at),
                )
            )
            return await self._one(conn, endpoint_id)

    async def rotate(self) -> int:
        """Re-seal every secret under the current key, bound to its clinic; how many.

        One transaction: a secret that opens with neither key aborts the whole rotation.
        """
        key, keys = self._key(), (self._key(), self._previous)
        async with self._engine.begin() as conn:
            query = select(ep.id, ep.clinic_id, ep.encrypted_secret)
            if conn.dialect.name == "postgresql":
                query = query.with_for_update()
            rows = list(await conn.execute(query))
            fresh: list[tuple[UUID, str, str]] = []
            unreadable: list[str] = []
            for row in rows:
                bound_to = str(row.clinic_id)
                try:
                    secret = crypto.decrypt_with_fallback(
                        row.encrypted_secret, keys, bound_to=bound_to
                    )
                except DecryptionError:
                    unreadable.append(str(row.id))
                    continue
                fresh.append(
                    (row.id, row.encrypted_secret, crypto.encrypt(secret, key, bound_to=bound_to))
                )
            if unreadable:
                raise DecryptionError(
                    f"could not decrypt the secret of webhook(s) {', '.join(unreadable)} with "
                    f"any configured key; nothing was changed; {KEY_HINT}"
                )
            for endpoint_id, old, new in fresh:
                await conn.execute(
                    update(webhook_endpoints)
                    .where(ep.id == endpoint_id, ep.encrypted_secret == old)
                    .values(encrypted_secret=new)
                )
        return len(fresh)

    async def deliveries(
        self, *, clinic_id: UUID | None, endpoint_id: UUID, limit: int
    ) -> list[DeliveryAttempt]:
        """The endpoint's latest attempts, newest first."""
        log = webhook_deliveries.c
        query = (
            select(webhook_deliveries)
            .where(log.endpoint_id == endpoint_id)
            .order_by(log.attempted_at.desc(), log.seq.desc(), log.attempt.desc())
            .limit(limit)
        )
        if clinic_id is not None:
            query = query.where(scoped(webhook_deliveries, clinic_id))
        async with self._engine.connect() as conn:
            return [_attempt(row) for row in await conn.execute(query)]
