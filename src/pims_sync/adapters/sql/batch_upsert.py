"""One INSERT … ON CONFLICT DO UPDATE statement for a whole batch of rows, per dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any
from uuid import UUID

from sqlalchemy import Column, Table, Text, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import JSON, TypeEngine

from pims_sync.adapters.sql.upsert import insert_for
from pims_sync.domain.instants import utc


def _record_type(col: Column[Any]) -> TypeEngine[Any]:
    # Our JSON columns are JSON-with-a-JSONB-variant; the record definition needs JSONB.
    return JSONB() if isinstance(col.type, JSON) else col.type


def _json_value(value: object) -> str:
    """UUIDs, aware datetimes and days as Postgres reads them back from JSON text."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime):
        return utc(value).isoformat()
    if isinstance(value, date):  # after datetime, which is a date too
        return value.isoformat()
    raise TypeError(f"cannot store {type(value).__name__} in a batch upsert")


class BatchUpsert:
    """Upserts many rows of one table in one statement, whatever the batch size.

    Postgres: the batch travels as ONE jsonb parameter, `INSERT … SELECT … FROM
    jsonb_to_recordset(:rows) AS r(col type, …) ON CONFLICT …`: the SQL text is the same
    for every batch (compiled and parsed once), there is no bound-parameter limit, and
    serialising is one C-speed `json.dumps` (per-row placeholders or text arrays made
    psycopg spend most of the time scanning and escaping).
    SQLite: SQLAlchemy's "insertmanyvalues" renders the executemany as one multi-row
    `INSERT … VALUES (…), (…)`; it splits by itself a batch beyond SQLite's bound-parameter
    limit (32766 rows×columns since 3.32, 999 before), the only case with several statements.
    """

    def __init__(
        self,
        engine: AsyncEngine,
        table: Table,
        *,
        columns: Sequence[str],
        conflict: Sequence[str],
        returning: Sequence[str],
    ) -> None:
        self._postgres = engine.dialect.name == "postgresql"
        updated = [name for name in columns if name not in (*conflict, "id")]
        if self._postgres:
            batch = cast(bindparam("rows", type_=Text()), JSONB)
            typed = (column(name, _record_type(table.c[name])) for name in columns)
            rows = (
                func.jsonb_to_recordset(batch).table_valued(*typed).render_derived(with_types=True)
            )
            statement = insert_for(engine, table).from_select(list(columns), select(*rows.c))
        else:
            statement = insert_for(engine, table)
        self._statement = statement.on_conflict_do_update(
            index_elements=list(conflict),
            set_={name: statement.excluded[name] for name in updated},
        ).returning(*(table.c[name] for name in returning))

    @property
    def statement(self) -> Any:
        """The statement (on Postgres, its one parameter is `postgres_values(rows)`)."""
        return self._statement

    def postgres_values(self, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """The Postgres statement's parameter: the batch as one JSON document."""
        return {"rows": json.dumps(list(rows), default=_json_value, ensure_ascii=False)}

    async def run(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """Upsert these rows (each with every column); the RETURNING rows."""
        if not rows:
            return []
        if self._postgres:
            return list(await conn.execute(self._statement, self.postgres_values(rows)))
        options = {"insertmanyvalues_page_size": len(rows)}
        return list(await conn.execute(self._statement, list(rows), execution_options=options))
