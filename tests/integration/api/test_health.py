"""`/`, `/health`, `/ready`, `/metrics` against real databases, and when the database is gone."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from pims_sync import __version__
from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from tests.integration.api.conftest import api_settings, client_for

SYNC_FAMILIES = {
    "pims_sync_runs",
    "pims_sync_run_duration_seconds",
    "pims_sync_phase_duration_seconds",
    "pims_sync_pims_requests",
    "pims_sync_pims_request_duration_seconds",
    "pims_sync_cases_written",
    "pims_sync_active_runs",
    "pims_sync_scheduler_jobs",
    "pims_sync_browser_contexts",
    "pims_sync_process_memory_bytes",
    "pims_sync_http_requests",
    "process_uptime_seconds",
}


async def test_service_info_lists_the_endpoints(client: httpx.AsyncClient) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    body = response.json()
    assert (body["service"], body["version"]) == ("pims-sync", __version__)
    listed = {(e["method"], e["path"]): e for e in body["endpoints"]}
    for path in ("/", "/health", "/ready", "/metrics"):
        assert listed[("GET", path)]["auth"] is False
    assert listed[("GET", "/api/clinic")]["auth"] is True
    assert (await client.get("/openapi.json")).json()["info"]["title"] == "pims-sync"


async def test_health_and_ready_on_a_live_database(client: httpx.AsyncClient) -> None:
    health = await client.get("/health")
    assert health.status_code == 200
    body = health.json()
    assert body["status"] == "healthy"
    assert body["version"] == __version__
    assert body["uptime"] >= 0
    memory = body["memory"]
    assert memory["rss"] > 0
    assert all(isinstance(memory[k], int) and memory[k] > 0 for k in ("heapUsed", "heapTotal"))
    checks = {check["name"]: check for check in body["checks"]}
    assert checks["database"]["status"] == "pass"
    assert {"process", "memory", "database"} <= set(checks)

    ready = await client.get("/ready")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready"
    assert ready.json()["database"] == "connected"


async def test_metrics_exposes_every_family(client: httpx.AsyncClient) -> None:
    await client.get("/health")
    await client.get("/nowhere")
    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    families = {family.name: family for family in text_string_to_metric_families(response.text)}
    assert set(families) >= SYNC_FAMILIES
    requests = {
        (s.labels["route"], s.labels["status"]): s.value
        for s in families["pims_sync_http_requests"].samples
        if s.name.endswith("_total")
    }
    assert requests[("/health", "200")] == 1
    assert requests[("unmatched", "404")] == 1


async def test_each_app_has_its_own_registry(services: Services) -> None:
    first, second = create_app(services.settings), create_app(services.settings)
    assert first is not second
    other = build_services(services.settings)
    try:
        assert other.metrics.registry is not services.metrics.registry
    finally:
        await other.aclose()


async def test_lifespan_builds_and_closes_its_own_services(migrated_database_url: str) -> None:
    app = create_app(api_settings(migrated_database_url))
    async with app.router.lifespan_context(app), client_for(app) as client:
        assert isinstance(app.state.services, Services)
        assert (await client.get("/ready")).json()["database"] == "connected"


@pytest.fixture(
    params=[
        "sqlite:////nonexistent-dir/deeper/pims-sync.db",
        "postgresql://pims:s3cret-pass@127.0.0.1:1/pims",
    ],
    ids=["sqlite", "postgres"],
)
async def dead_client(request: pytest.FixtureRequest) -> AsyncIterator[httpx.AsyncClient]:
    """The app on a database that cannot be reached."""
    services = build_services(api_settings(request.param))
    try:
        async with client_for(create_app(services.settings, services)) as client:
            yield client
    finally:
        await services.aclose()


async def test_unreachable_database_makes_ready_and_health_503(
    dead_client: httpx.AsyncClient,
) -> None:
    ready = await dead_client.get("/ready")
    assert ready.status_code == 503
    body = ready.json()
    assert (body["status"], body["database"]) == ("not_ready", "disconnected")
    assert body["error"]
    assert "s3cret-pass" not in ready.text

    health = await dead_client.get("/health")
    assert health.status_code == 503
    assert health.json()["status"] == "unhealthy"
    checks = {check["name"]: check["status"] for check in health.json()["checks"]}
    assert checks["database"] == "fail"
    assert "s3cret-pass" not in health.text
