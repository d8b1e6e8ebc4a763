"""`GET /api/clinic`: the clinic an API key acts for, and what the key may do."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from pims_sync.domain.api_keys import PERMISSIONS, ApiKey
from pims_sync.domain.clinics import Clinic
from pims_sync.shapes.base import CamelModel


class ClinicOut(CamelModel):
    """A clinic as the API shows it."""

    id: UUID
    name: str
    timezone: str
    pims_type: str
    is_active: bool

    @classmethod
    def of(cls, clinic: Clinic) -> ClinicOut:
        """From the domain clinic."""
        return cls(
            id=clinic.id,
            name=clinic.name,
            timezone=clinic.timezone,
            pims_type=clinic.pims_type,
            is_active=clinic.is_active,
        )


class ApiKeyOut(CamelModel):
    """The calling key: what it may do; never the key or its hash."""

    id: UUID
    name: str
    prefix: str
    service_key: bool
    full_access: bool
    permissions: list[str]
    expires_at: datetime | None

    @classmethod
    def of(cls, key: ApiKey) -> ApiKeyOut:
        """From the domain key; `permissions` lists what it grants (all when full access)."""
        return cls(
            id=key.id,
            name=key.name,
            prefix=key.key_prefix,
            service_key=key.is_service_key,
            full_access=key.permissions is None or "*" in key.permissions,
            permissions=[p for p in PERMISSIONS if key.allows(p)],
            expires_at=key.expires_at,
        )


class ClinicInfo(CamelModel):
    """`GET /api/clinic`: the clinic a key acts for, and the key's permissions."""

    success: bool = True
    clinic: ClinicOut
    api_key: ApiKeyOut


class LoginCheckOut(CamelModel):
    """`POST /api/clinic/credentials/test`: whether the PIMS took the stored login.

    `ok: true` with the login's `seconds`, or `ok: false` with the PIMS refusal's `code`
    and `message` (a refusal is an answer, not an error of the call).
    """

    clinic_id: UUID
    ok: bool
    seconds: float | None = None
    code: str | None = None
    message: str | None = None
