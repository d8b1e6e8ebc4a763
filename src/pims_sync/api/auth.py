"""API-key authentication, permissions and clinic scope, free of FastAPI.

The rules: docs/security.md#api-keys-and-permissions.

Messages and codes (all in the JSON error envelope; each code is an error class of
`errors.py`, and `api/errors.py` gives its status):

| status | code | message |
|---|---|---|
| 401 | `missing_api_key` | `Missing X-API-Key header` |
| 401 | `invalid_api_key` | `Invalid API key` |
| 401 | `api_key_disabled` | `API key is disabled` |
| 401 | `api_key_expired` | `API key has expired` |
| 403 | `permission_denied` | `Permission denied: <permission>` |
| 403 | `clinic_forbidden` | `API key does not belong to clinic <clinicId>` |
| 400 | `clinic_id_required` | `clinicId is required: this API key is a service key ...` |
| 404 | `clinic_not_found` | `Clinic not found: <clinicId>` |
| 403 | `clinic_inactive` | `Clinic is deactivated: <clinicId>` |

`/metrics`, when METRICS_TOKEN is set, takes `Authorization: Bearer <token>`:
401 `missing_metrics_token` without one, 401 `invalid_metrics_token` for another.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Iterable
from datetime import datetime, timedelta
from uuid import UUID

from pydantic import SecretStr

from pims_sync.domain.api_keys import ApiKey, hashes_match, key_prefix, normalise_permission
from pims_sync.domain.clinics import Clinic
from pims_sync.errors import (
    ApiKeyDisabledError,
    ApiKeyExpiredError,
    ClinicForbiddenError,
    ClinicIdRequiredError,
    ClinicInactiveError,
    ClinicNotFoundError,
    InvalidApiKeyError,
    MetricsTokenError,
    MissingApiKeyError,
    MissingMetricsTokenError,
    PermissionDeniedError,
)
from pims_sync.ports.api_keys import ApiKeyLookup
from pims_sync.ports.clinics import ClinicDirectory

logger = logging.getLogger(__name__)

MISSING_KEY = "Missing X-API-Key header"
INVALID_KEY = "Invalid API key"
DISABLED_KEY = "API key is disabled"
EXPIRED_KEY = "API key has expired"
CLINIC_REQUIRED = (
    "clinicId is required: this API key is a service key (not bound to a clinic), "
    "so each request must name its clinic"
)
# Messages, not secrets (hence the noqa).
MISSING_METRICS_TOKEN = "Missing Authorization: Bearer <METRICS_TOKEN> header"  # noqa: S105
INVALID_METRICS_TOKEN = "Invalid metrics token"  # noqa: S105
BEARER = "Bearer "
# Compared when no stored key has the presented prefix (the hash of no key: 64 zeros
# is not a SHA-256 anyone can present).
NO_KEY_HASH = "0" * 64
# The store also refuses more frequent writes; checking here saves the round trip.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def matching_key(candidates: Iterable[ApiKey], presented: str) -> ApiKey | None:
    """The candidate whose hash is the presented key's, comparing against every one.

    Every candidate is compared in constant time, even after a match, so the time
    taken does not tell which one matched or how much of its hash did; with no
    candidate a stand-in hash is compared, so an unknown prefix costs the same work.
    """
    found: ApiKey | None = None
    compared = 0
    for candidate in candidates:
        compared += 1
        if hashes_match(candidate.key_hash, presented) and found is None:
            found = candidate
    if compared == 0:
        hashes_match(NO_KEY_HASH, presented)
    return found


async def authenticate(store: ApiKeyLookup, presented: str | None, now: datetime) -> ApiKey:
    """The stored key for the `X-API-Key` value, or an AuthenticationError (401) saying why not."""
    if not presented:
        raise MissingApiKeyError(MISSING_KEY)
    candidates = await store.find_by_prefix(key_prefix(presented))
    key = matching_key(candidates, presented)
    if key is None:
        # Never the presented value, not even its prefix: it may be a mistyped secret.
        logger.warning("rejected API key: unknown (%d key(s) share its prefix)", len(candidates))
        raise InvalidApiKeyError(INVALID_KEY)
    if not key.is_active:
        logger.warning("rejected API key %s: disabled", key.id)
        raise ApiKeyDisabledError(DISABLED_KEY)
    if key.expires_at is not None and key.expires_at < now:
        logger.warning("rejected API key %s: expired", key.id)
        raise ApiKeyExpiredError(EXPIRED_KEY)
    return key


async def record_use(store: ApiKeyLookup, key: ApiKey, now: datetime) -> None:
    """Write `last_used_at` at most once a minute; a failure is logged, never fatal."""
    if key.last_used_at is not None and now - key.last_used_at < LAST_USED_RESOLUTION:
        return
    try:
        await store.touch(key.id, now)
    except Exception:
        logger.warning("could not record the use of API key %s", key.id, exc_info=True)


def check_permissions(key: ApiKey, permissions: Iterable[str]) -> None:
    """PermissionDeniedError (403) naming the first permission the key lacks."""
    for permission in permissions:
        if not key.allows(permission):
            name = normalise_permission(permission)
            raise PermissionDeniedError(f"Permission denied: {name}")


async def clinic_for(clinics: ClinicDirectory, key: ApiKey, requested: UUID | None) -> Clinic:
    """The clinic a request acts for: the key's own, or the one a service key names."""
    if key.clinic_id is not None:
        if requested is not None and requested != key.clinic_id:
            raise ClinicForbiddenError(f"API key does not belong to clinic {requested}")
        clinic_id = key.clinic_id
    elif requested is None:
        raise ClinicIdRequiredError(CLINIC_REQUIRED)
    else:
        clinic_id = requested
    clinic = await clinics.get(clinic_id)
    if clinic is None:
        raise ClinicNotFoundError(f"Clinic not found: {clinic_id}")
    if not clinic.is_active:
        raise ClinicInactiveError(inactive_message(clinic_id))
    return clinic


def inactive_message(clinic_id: UUID) -> str:
    """What a deactivated clinic's refusal says, wherever it comes from."""
    return f"Clinic is deactivated: {clinic_id}"


def check_metrics_token(expected: SecretStr | None, authorization: str | None) -> None:
    """Pass when no token is configured or the bearer token is it; else a MetricsTokenError."""
    if expected is None:
        return
    if not authorization or not authorization.startswith(BEARER):
        raise MissingMetricsTokenError(MISSING_METRICS_TOKEN)
    presented = authorization.removeprefix(BEARER).strip().encode("utf-8", "surrogateescape")
    if not hmac.compare_digest(presented, expected.get_secret_value().encode("utf-8")):
        raise MetricsTokenError(INVALID_METRICS_TOKEN)
