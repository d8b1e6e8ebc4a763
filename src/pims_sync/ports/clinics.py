"""The clinic ports: the pipeline's lookup, and the admin store the entry points use."""

from __future__ import annotations

import builtins
from typing import Protocol
from uuid import UUID

from pims_sync.domain.clinics import DEFAULT_TIMEZONE, Clinic


class ClinicDirectory(Protocol):
    """Looks clinics up by id (SqlClinicStore fits)."""

    async def get(self, clinic_id: UUID) -> Clinic | None:
        """The clinic, or None when there is no such clinic."""
        ...


class ClinicStore(ClinicDirectory, Protocol):
    """Adds and lists clinics (`pims-sync clinics`, the demo); one transaction per call."""

    async def add(self, *, name: str, timezone: str = DEFAULT_TIMEZONE) -> Clinic:
        """Create a clinic and return it."""
        ...

    async def list(self) -> builtins.list[Clinic]:
        """All clinics, oldest first."""
        ...
