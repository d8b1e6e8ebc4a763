"""The session-cache port: a clinic's PIMS cookies kept between runs."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID


class SessionCache(Protocol):
    """Stores a clinic's session cookies (serialised JSON) with idle and absolute expiry.

    A session is bound to the credentials that opened it (`binding`, a hash of base URL,
    username and company id): asked with another binding, the cache has no session.
    """

    async def load(self, clinic_id: UUID, binding: str | None = None) -> str | None:
        """The cookies if a still-valid session of this binding is cached (others are dropped)."""
        ...

    async def save(self, clinic_id: UUID, cookies_json: str, binding: str | None = None) -> None:
        """Store the cookies of a fresh login under its binding; starts both expiry clocks."""
        ...

    async def touch(self, clinic_id: UUID, cookies_json: str | None = None) -> None:
        """Mark the session used now (optionally with refreshed cookies)."""
        ...

    async def forget(self, clinic_id: UUID) -> None:
        """Drop the clinic's session (it was rejected by the PIMS, or its login changed)."""
        ...
