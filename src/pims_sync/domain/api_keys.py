"""API keys: how they are made, stored (hashed) and what they may do."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

PREFIX_LENGTH = 8

# Reading the clinic's outbox events (`GET /api/events`).
EVENTS_READ = "events:read"
# Adding, removing and replaying the clinic's webhook endpoints (`/api/webhooks`).
WEBHOOKS_MANAGE = "webhooks:manage"
# Pausing and resuming the clinic (`PATCH /api/clinic`).
CLINIC_MANAGE = "clinic:manage"
# Reading free slots and the booking rules (`/api/availability`, `GET /api/booking/config`).
APPOINTMENTS_READ = "appointments:read"
# Holding slots and setting the booking rules (`/api/availability/holds`, `PUT …/config`).
APPOINTMENTS_WRITE = "appointments:write"
PERMISSIONS = (
    "sync:inbound",
    "sync:cases",
    "sync:reconcile",
    APPOINTMENTS_READ,
    APPOINTMENTS_WRITE,
    EVENTS_READ,
    WEBHOOKS_MANAGE,
    CLINIC_MANAGE,
)
FULL_SYNC_PERMISSIONS = ("sync:inbound", "sync:cases", "sync:reconcile")
ALIASES = {"sync:reconciliation": "sync:reconcile"}


def generate_key() -> str:
    """A new random key: 64 hex characters, as the original made them."""
    return secrets.token_hex(32)


def hash_key(key: str) -> str:
    """SHA-256 hex of the whole key: what the database keeps."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The first 8 characters, used to find candidate rows."""
    return key[:PREFIX_LENGTH]


def hashes_match(candidate_hash: str, presented_key: str) -> bool:
    """Compare in constant time, whatever prefix of the hashes matches."""
    return hmac.compare_digest(candidate_hash.encode(), hash_key(presented_key).encode())


def normalise_permission(name: str) -> str:
    """Map the accepted alias to its canonical name."""
    return ALIASES.get(name, name)


def parse_permissions(names: Iterable[str]) -> list[str]:
    """Validate and normalise a list of permission names."""
    result: list[str] = []
    for raw in names:
        name = normalise_permission(raw.strip())
        if name != "*" and name not in PERMISSIONS:
            raise ValueError(f"unknown permission {raw!r} (known: *, {', '.join(PERMISSIONS)})")
        if name not in result:
            result.append(name)
    return result


@dataclass(frozen=True, slots=True)
class ApiKey:
    """A stored API key (never the key itself)."""

    id: UUID
    clinic_id: UUID | None
    name: str
    key_prefix: str
    key_hash: str
    permissions: tuple[str, ...] | None
    is_active: bool
    expires_at: datetime | None
    last_used_at: datetime | None
    created_at: datetime | None

    @property
    def is_service_key(self) -> bool:
        """A key with no clinic: each request must name one."""
        return self.clinic_id is None

    def allows(self, permission: str) -> bool:
        """Whether this key grants the permission (NULL or `*` grant all)."""
        if self.permissions is None or "*" in self.permissions:
            return True
        wanted = normalise_permission(permission)
        return any(normalise_permission(p) == wanted for p in self.permissions)
