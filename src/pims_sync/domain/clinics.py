"""Clinics: the tenants whose PIMS we sync."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pims_sync.errors import InvalidInputError

DEFAULT_TIMEZONE = "America/Los_Angeles"


@dataclass(frozen=True, slots=True)
class Clinic:
    """A clinic and the time zone its PIMS speaks in."""

    id: UUID
    name: str
    timezone: str = DEFAULT_TIMEZONE
    pims_type: str = "idexx_neo"
    is_active: bool = True
    created_at: datetime | None = None

    @property
    def zone(self) -> ZoneInfo:
        """The clinic's time zone."""
        return ZoneInfo(self.timezone)


def validate_timezone(name: str) -> str:
    """Return the IANA zone name, or raise InvalidInputError saying it is unknown."""
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInputError(
            f"unknown time zone {name!r} (use an IANA name such as America/Los_Angeles)"
        ) from None
    return name
