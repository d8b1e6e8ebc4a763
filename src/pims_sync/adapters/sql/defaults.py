"""What hand-written SQL relies on: random uuid defaults and, on SQLite, uuids typed as text.

A row inserted by hand (the original's getting-started SQL gives no `id`) gets its id from
the database: `gen_random_uuid()` on Postgres (built in since version 13), and on SQLite an
expression giving a version-4 uuid as 32 lowercase hex digits, which is how the `Uuid`
column type stores uuids there.

SQLite compares uuids as text, so a clinic id typed with dashes (as `pims-sync clinics add`
prints it) would never match the 32 digits the service looks for: a trigger per table
rewrites such values to the stored form right after the insert.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Table, Uuid
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

# xxxxxxxx xxxx 4xxx yxxx xxxxxxxxxxxx, y in 8-b: the version and variant bits of uuid4.
SQLITE_RANDOM_UUID = (
    "lower(hex(randomblob(6)) || '4' || substr(hex(randomblob(2)), 2) || "
    "substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(8)), 2))"
)
POSTGRES_RANDOM_UUID = "gen_random_uuid()"

TRIGGER_PREFIX = "pims_sync_uuid_text_"


class RandomUuid(FunctionElement[Any]):
    """A new random uuid, computed by the database (a column's server default)."""

    name = "random_uuid"
    inherit_cache = True


@compiles(RandomUuid)
def _random_uuid(element: RandomUuid, compiler: SQLCompiler, **kw: Any) -> str:
    del element, compiler, kw
    return POSTGRES_RANDOM_UUID


@compiles(RandomUuid, "sqlite")
def _random_uuid_sqlite(element: RandomUuid, compiler: SQLCompiler, **kw: Any) -> str:
    del element, compiler, kw
    return SQLITE_RANDOM_UUID


def uuid_columns(table: Table) -> list[str]:
    """The names of the table's uuid columns."""
    return [column.name for column in table.columns if isinstance(column.type, Uuid)]


def trigger_name(table: str) -> str:
    """The name of the SQLite trigger that rewrites the table's uuids typed as text."""
    return TRIGGER_PREFIX + table


def trigger_sql(table: str, columns: list[str]) -> str:
    """`CREATE TRIGGER` for SQLite: dashes and capitals out of these uuid columns after INSERT."""
    stored = {c: f"lower(replace({c}, '-', ''))" for c in columns}
    when = " OR ".join(f"NEW.{c} <> lower(replace(NEW.{c}, '-', ''))" for c in columns)
    sets = ", ".join(f"{c} = {stored[c]}" for c in columns)
    # Names of our own tables and columns, never input.
    head = f"CREATE TRIGGER {trigger_name(table)} AFTER INSERT ON {table} WHEN {when} "
    return head + f"BEGIN UPDATE {table} SET {sets} WHERE rowid = NEW.rowid; END"  # noqa: S608


def live_triggers(connection: Connection, table: str) -> dict[str, str]:
    """The SQLite triggers of a table: name → its `CREATE TRIGGER` text."""
    rows = connection.exec_driver_sql(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ?", (table,)
    )
    return {str(name): str(sql) for name, sql in rows}


def trigger_gap(connection: Connection, table: Table) -> str | None:
    """'missing' or 'outdated' when the table's SQLite uuid trigger is not as it should be."""
    columns = uuid_columns(table)
    if connection.dialect.name != "sqlite" or not columns:
        return None
    found = live_triggers(connection, table.name).get(trigger_name(table.name))
    if found is None:
        return "missing"
    return None if found == trigger_sql(table.name, columns) else "outdated"


def install_trigger(connection: Connection, table: Table) -> None:
    """Create (or replace an outdated) uuid trigger on SQLite; nothing elsewhere."""
    gap = trigger_gap(connection, table)
    if gap is None:
        return
    if gap == "outdated":  # ours by its name: replacing it loses nothing
        connection.exec_driver_sql(f"DROP TRIGGER {trigger_name(table.name)}")
    connection.exec_driver_sql(trigger_sql(table.name, uuid_columns(table)))
