"""Fixtures shared with the API tests: services on a migrated database, and a clinic."""

from __future__ import annotations

from tests.integration.api.conftest import clinic, services

__all__ = ["clinic", "services"]
