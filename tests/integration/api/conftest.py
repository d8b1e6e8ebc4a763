"""Fixtures for the HTTP API: services on a migrated database, the app, a client, keys."""

from __future__ import annotations

import secrets
import uuid
from collections.abc import AsyncIterator
from datetime import datetime

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import insert

from pims_sync.adapters.sql.tables import clinic_api_keys
from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.api_keys import hash_key, key_prefix
from pims_sync.domain.clinics import Clinic
from pims_sync.settings import Settings, load_settings

ENCRYPTION_KEY = "test-encryption-key-0123456789abcdef"


def api_settings(database_url: str) -> Settings:
    """Settings for a test app on this database."""
    return load_settings(database_url=database_url, encryption_key=ENCRYPTION_KEY)


def client_for(app: FastAPI) -> httpx.AsyncClient:
    """An HTTP client talking to the app in-process (app errors become 500s, not raises)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://testserver")


@pytest.fixture
async def services(migrated_database_url: str) -> AsyncIterator[Services]:
    """Services on a freshly migrated SQLite or Postgres database."""
    built = build_services(api_settings(migrated_database_url))
    try:
        yield built
    finally:
        await built.aclose()


@pytest.fixture
def app(services: Services) -> FastAPI:
    """The real app, given the test's services (so no lifespan is needed)."""
    return create_app(services.settings, services)


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client for the app."""
    async with client_for(app) as http:
        yield http


@pytest.fixture
async def clinic(services: Services) -> Clinic:
    """A clinic."""
    return await services.clinics.add(name="Happy Paws", timezone="America/Chicago")


async def insert_key(
    services: Services,
    *,
    clinic_id: uuid.UUID | None,
    key: str | None = None,
    permissions: list[str] | None = None,
    is_active: bool = True,
    expires_at: datetime | None = None,
) -> tuple[uuid.UUID, str]:
    """Store a key with exactly these properties (the store always makes random ones)."""
    key = key or secrets.token_hex(32)
    key_id = uuid.uuid4()
    values = {
        "id": key_id,
        "clinic_id": clinic_id,
        "name": "test",
        "key_prefix": key_prefix(key),
        "key_hash": hash_key(key),
        "permissions": permissions,
        "is_active": is_active,
        "expires_at": expires_at,
    }
    async with services.engine.begin() as conn:
        await conn.execute(insert(clinic_api_keys).values(**values))
    return key_id, key
