"""The clinic directory port: what the pipeline needs to know about a clinic."""

from __future__ import annotations

from typing import Protocol
from uuid import UUID

from pims_sync.domain.clinics import Clinic


class ClinicDirectory(Protocol):
    """Looks clinics up by id (SqlClinicStore fits)."""

    async def get(self, clinic_id: UUID) -> Clinic | None:
        """The clinic, or None when there is no such clinic."""
        ...
