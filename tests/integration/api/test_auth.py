"""API keys over HTTP: every refusal with its status, code and message.

The rules: docs/security.md#api-keys-and-permissions.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

import httpx
import pytest
from fastapi import Depends
from sqlalchemy import select

from pims_sync.adapters.sql.tables import clinic_api_keys
from pims_sync.api.app import create_app
from pims_sync.api.deps import require
from pims_sync.bootstrap import Services
from pims_sync.domain.api_keys import FULL_SYNC_PERMISSIONS, ApiKey
from pims_sync.domain.clinics import Clinic
from tests.integration.api.conftest import client_for, insert_key


def assert_refused(response: httpx.Response, status: int, code: str, message: str) -> None:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["code"] == code
    assert body["error"] == message
    assert datetime.fromisoformat(body["timestamp"])


async def last_used(services: Services, key_id: uuid.UUID) -> datetime | None:
    query = select(clinic_api_keys.c.last_used_at).where(clinic_api_keys.c.id == key_id)
    async with services.engine.connect() as conn:
        value: datetime | None = (await conn.execute(query)).scalar_one()
    return value


async def test_missing_empty_and_unknown_keys_are_401(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/clinic")
    assert_refused(response, 401, "missing_api_key", "Missing X-API-Key header")
    response = await client.get("/api/clinic", headers={"X-API-Key": ""})
    assert_refused(response, 401, "missing_api_key", "Missing X-API-Key header")
    response = await client.get("/api/clinic", headers={"X-API-Key": "f" * 64})
    assert_refused(response, 401, "invalid_api_key", "Invalid API key")
    response = await client.get("/api/clinic", headers={"X-API-Key": "short"})
    assert_refused(response, 401, "invalid_api_key", "Invalid API key")


async def test_disabled_revoked_and_expired_keys_are_401(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    now = datetime.now(UTC)
    _, disabled = await insert_key(services, clinic_id=clinic.id, is_active=False)
    response = await client.get("/api/clinic", headers={"X-API-Key": disabled})
    assert_refused(response, 401, "api_key_disabled", "API key is disabled")

    row, revoked = await services.api_keys.create(clinic_id=clinic.id)
    assert (await client.get("/api/clinic", headers={"X-API-Key": revoked})).status_code == 200
    await services.api_keys.revoke(row.id)
    response = await client.get("/api/clinic", headers={"X-API-Key": revoked})
    assert_refused(response, 401, "api_key_disabled", "API key is disabled")

    past, future = now - timedelta(seconds=1), now + timedelta(days=1)
    _, expired = await insert_key(services, clinic_id=clinic.id, expires_at=past)
    response = await client.get("/api/clinic", headers={"X-API-Key": expired})
    assert_refused(response, 401, "api_key_expired", "API key has expired")
    _, valid = await insert_key(services, clinic_id=clinic.id, expires_at=future)
    assert (await client.get("/api/clinic", headers={"X-API-Key": valid})).status_code == 200


async def test_keys_sharing_a_prefix_both_work_and_a_wrong_hash_does_not(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    other = await services.clinics.add(name="Other")
    first_id, first = await insert_key(services, clinic_id=clinic.id, key="abcd1234" + "1" * 56)
    second_id, second = await insert_key(services, clinic_id=other.id, key="abcd1234" + "2" * 56)
    for key, key_id, clinic_id in ((first, first_id, clinic.id), (second, second_id, other.id)):
        response = await client.get("/api/clinic", headers={"X-API-Key": key})
        assert response.status_code == 200, response.text
        assert response.json()["clinic"]["id"] == str(clinic_id)
        assert response.json()["apiKey"]["id"] == str(key_id)
    wrong_hash = "abcd1234" + "3" * 56  # right prefix, no such key
    response = await client.get("/api/clinic", headers={"X-API-Key": wrong_hash})
    assert_refused(response, 401, "invalid_api_key", "Invalid API key")


async def test_last_used_at_is_written_at_most_once_a_minute(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    key_id, key = await insert_key(services, clinic_id=clinic.id)
    assert await last_used(services, key_id) is None
    before = datetime.now(UTC)
    await client.get("/api/clinic", headers={"X-API-Key": key})
    first = await last_used(services, key_id)
    assert first is not None
    assert first >= before - timedelta(seconds=1)
    await client.get("/api/clinic", headers={"X-API-Key": key})
    assert await last_used(services, key_id) == first


async def test_clinic_key_sees_its_clinic_and_no_other(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=clinic.id, permissions=["sync:inbound"])
    response = await client.get("/api/clinic", headers={"X-API-Key": key})
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["clinic"] == {
        "id": str(clinic.id),
        "name": "Happy Paws",
        "timezone": "America/Chicago",
        "pimsType": "idexx_neo",
        "isActive": True,
    }
    assert body["apiKey"]["permissions"] == ["sync:inbound"]
    assert body["apiKey"]["fullAccess"] is False
    assert body["apiKey"]["serviceKey"] is False
    same = await client.get(f"/api/clinic?clinicId={clinic.id}", headers={"X-API-Key": key})
    assert same.status_code == 200
    other = await services.clinics.add(name="Other")
    response = await client.get(f"/api/clinic?clinicId={other.id}", headers={"X-API-Key": key})
    assert_refused(
        response, 403, "clinic_forbidden", f"API key does not belong to clinic {other.id}"
    )


async def test_service_key_must_name_a_known_clinic(
    client: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    _, key = await insert_key(services, clinic_id=None)
    headers = {"X-API-Key": key}
    response = await client.get("/api/clinic", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "clinic_id_required"
    assert response.json()["error"].startswith("clinicId is required")
    named = await client.get(f"/api/clinic?clinicId={clinic.id}", headers=headers)
    assert named.status_code == 200
    assert named.json()["clinic"]["id"] == str(clinic.id)
    assert named.json()["apiKey"]["serviceKey"] is True
    unknown = uuid.uuid4()
    response = await client.get(f"/api/clinic?clinicId={unknown}", headers=headers)
    assert_refused(response, 404, "clinic_not_found", f"Clinic not found: {unknown}")
    response = await client.get("/api/clinic?clinicId=not-a-uuid", headers=headers)
    assert response.status_code == 400
    assert response.json()["code"] == "validation_error"
    assert response.json()["validationErrors"][0]["field"] == "query.clinicId"


# --- Permissions, through `require()` on routes that exist only in this test. ---

Key = Annotated[ApiKey, Depends(require("sync:inbound"))]


@pytest.fixture
async def guarded(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """The real app plus three routes guarded like the sync routes will be."""
    app = create_app(services.settings, services)

    @app.post("/test/inbound")
    async def inbound(key: Key) -> dict[str, Any]:
        return {"key": str(key.id)}

    @app.post("/test/reconcile", dependencies=[Depends(require("sync:reconciliation"))])
    async def reconcile() -> dict[str, Any]:
        return {"ok": True}

    @app.post("/test/full", dependencies=[Depends(require(*FULL_SYNC_PERMISSIONS))])
    async def full() -> dict[str, Any]:
        return {"ok": True}

    async with client_for(app) as http:
        yield http


PERMISSION_CASES: list[tuple[list[str] | None, dict[str, int]]] = [
    (None, {"inbound": 200, "reconcile": 200, "full": 200}),
    (["*"], {"inbound": 200, "reconcile": 200, "full": 200}),
    (["sync:inbound"], {"inbound": 200, "reconcile": 403, "full": 403}),
    (["sync:reconciliation"], {"inbound": 403, "reconcile": 200, "full": 403}),
    (
        ["sync:inbound", "sync:cases", "sync:reconcile"],
        {"inbound": 200, "reconcile": 200, "full": 200},
    ),
]


async def test_permissions(guarded: httpx.AsyncClient, services: Services, clinic: Clinic) -> None:
    for permissions, expected in PERMISSION_CASES:
        _, key = await insert_key(services, clinic_id=clinic.id, permissions=permissions)
        for route, status in expected.items():
            response = await guarded.post(f"/test/{route}", headers={"X-API-Key": key})
            assert response.status_code == status, (permissions, route, response.text)


async def test_permission_denied_names_the_missing_permission(
    guarded: httpx.AsyncClient, services: Services, clinic: Clinic
) -> None:
    response = await guarded.post("/test/full")
    assert_refused(response, 401, "missing_api_key", "Missing X-API-Key header")
    _, key = await insert_key(services, clinic_id=clinic.id, permissions=["sync:inbound"])
    headers = {"X-API-Key": key}
    response = await guarded.post("/test/reconcile", headers=headers)
    assert_refused(response, 403, "permission_denied", "Permission denied: sync:reconcile")
    response = await guarded.post("/test/full", headers=headers)
    assert_refused(response, 403, "permission_denied", "Permission denied: sync:cases")
