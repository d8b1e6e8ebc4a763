"""Column types that behave the same on SQLite and Postgres."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Text
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator, TypeEngine

from pims_sync.domain.instants import assume_utc, utc

# JSONB on Postgres (as Supabase has it), JSON text on SQLite.
JsonDocument: TypeEngine[Any] = JSON().with_variant(JSONB(), "postgresql")

# text[] on Postgres (as the seed document's SQL has it), a JSON list on SQLite.
TextList: TypeEngine[Any] = JSON().with_variant(ARRAY(Text()), "postgresql")


class UtcDateTime(TypeDecorator[datetime]):
    """A timestamptz that always comes back aware, in UTC, on SQLite too."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        """Refuse naive datetimes; store UTC."""
        if value is None:
            return None
        value = utc(value)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:  # noqa: ARG002
        """Give back an aware UTC datetime."""
        return None if value is None else assume_utc(value)
