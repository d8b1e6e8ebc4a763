"""INSERT … ON CONFLICT for whichever database the engine talks to."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine


def insert_for(engine: AsyncEngine, table: Table) -> Any:
    """A dialect insert that supports `on_conflict_do_update` on SQLite and Postgres."""
    return insert_for_dialect(engine.dialect.name, table)


def insert_for_dialect(dialect: str, table: Table) -> Any:
    """`insert_for` by the dialect's name (for code that holds a connection, not an engine)."""
    if dialect == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)
