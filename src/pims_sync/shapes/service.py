"""The service routes: `/` (what it is), `/health` and `/ready`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pims_sync.shapes.base import CamelModel, Instant, omitted


class Endpoint(CamelModel):
    """One documented operation."""

    method: str
    path: str
    auth: bool = Field(description="Whether it needs an API key.")
    summary: str


class ServiceInfo(CamelModel):
    """`GET /`: the service, its version and its endpoints."""

    service: str
    version: str
    description: str
    documentation: str
    timestamp: Instant
    endpoints: list[Endpoint]


class Memory(CamelModel):
    """The process's memory in bytes, named as the original's Node.js service named it."""

    rss: int
    heap_used: int
    heap_total: int


CheckStatus = Literal["pass", "warn", "fail"]


class HealthCheck(CamelModel):
    """One check's outcome: `pass`, `warn` (still healthy) or `fail` (503)."""

    name: str
    status: CheckStatus
    message: str


class Health(CamelModel):
    """`GET /health` (200 healthy, 503 unhealthy: the same shape)."""

    status: Literal["healthy", "unhealthy"]
    service: str
    version: str
    timestamp: Instant
    uptime: float = Field(description="Seconds since the process started.")
    uptime_seconds: int = Field(alias="uptime_seconds", description="The same, whole seconds.")
    memory: Memory
    checks: list[HealthCheck]


class Ready(CamelModel):
    """`GET /ready` (200 ready, 503 not ready)."""

    status: Literal["ready", "not_ready"]
    database: Literal["connected", "disconnected"]
    error: str | None = omitted("Why the database did not answer.")
    timestamp: Instant
