"""Migration scripts, oldest first; Alembic orders them by their down_revision."""

from __future__ import annotations
