"""Alembic migrations: the only DDL of the service (see docs/migrations.md)."""

from __future__ import annotations
