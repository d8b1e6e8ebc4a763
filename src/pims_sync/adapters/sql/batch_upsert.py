"""One INSERT … ON CONFLICT DO UPDATE statement for a whole batch of rows, per dialect."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Column, Table, Text, bindparam, cast, column, func, select
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.types import JSON, TypeEngine

from pims_sync.adapters.sql.upsert import insert_for


def _is_json(col: Column[Any]) -> bool:
    return isinstance(col.type, JSON)


def _array_item_type(col: Column[Any]) -> TypeEngine[Any]:
    # Our JSON columns are JSON-with-a-JSONB-variant; inside an array Postgres needs JSONB.
    return JSONB() if _is_json(col) else col.type


def _array_param(col: Column[Any]) -> Any:
    """`CAST(:name AS type[])`; JSON goes as text[] (psycopg adapts no list of dicts)."""
    bind_type = ARRAY(Text()) if _is_json(col) else ARRAY(col.type)
    return cast(bindparam(col.name, type_=bind_type), ARRAY(_array_item_type(col)))


class BatchUpsert:
    """Upserts many rows of one table in one statement, whatever the batch size.

    Postgres: `INSERT … SELECT * FROM unnest(:col1::type[], …) ON CONFLICT …`, one array
    parameter per column, so the SQL text is the same for every batch (compiled and
    parsed once, no bound-parameter limit, no per-row placeholders for the driver to scan).
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
        self._columns = tuple(columns)
        self._json = frozenset(name for name in columns if _is_json(table.c[name]))
        updated = [name for name in columns if name not in (*conflict, "id")]
        if self._postgres:
            arrays = [_array_param(table.c[name]) for name in columns]
            typed = (column(name, _array_item_type(table.c[name])) for name in columns)
            rows = func.unnest(*arrays).table_valued(*typed).render_derived()
            statement = insert_for(engine, table).from_select(list(columns), select(*rows.c))
        else:
            statement = insert_for(engine, table)
        self._statement = statement.on_conflict_do_update(
            index_elements=list(conflict),
            set_={name: statement.excluded[name] for name in updated},
        ).returning(*(table.c[name] for name in returning))

    async def run(self, conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> list[Any]:
        """Upsert these rows (each with every column); the RETURNING rows."""
        if not rows:
            return []
        if self._postgres:
            arrays = {name: [row[name] for row in rows] for name in self._columns}
            for name in self._json:
                arrays[name] = [None if v is None else json.dumps(v) for v in arrays[name]]
            return list(await conn.execute(self._statement, arrays))
        options = {"insertmanyvalues_page_size": len(rows)}
        return list(await conn.execute(self._statement, list(rows), execution_options=options))
