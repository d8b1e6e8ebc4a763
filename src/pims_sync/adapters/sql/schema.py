"""Compare a live database with the data model and say, in words, what is missing.

Presence is checked (tables, columns, indexes, unique constraints, column defaults, the
migration revision, SQLite's uuid triggers, the Postgres-only ranges of
`adapters/sql/ranges.py`), and what breaks the service's writes: NOT NULL
on a column the service leaves NULL, or on another application's column it cannot fill.
Not column types: an existing Supabase table may use equivalent types (`varchar` for
`text`, `json` for `jsonb`) that work fine.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Column, Connection, Index, MetaData, Table, UniqueConstraint, inspect
from sqlalchemy.engine import Inspector, make_url
from sqlalchemy.engine.interfaces import ReflectedColumn

from pims_sync.adapters.sql.defaults import trigger_gap, trigger_name
from pims_sync.adapters.sql.engine import create_sync_db_engine
from pims_sync.adapters.sql.migrate import current_revision, head_revision
from pims_sync.adapters.sql.ranges import range_gaps
from pims_sync.adapters.sql.tables import metadata as model


def _names(columns: Iterable[Column[Any]]) -> tuple[str, ...]:
    return tuple(column.name for column in columns)


def _listed(table: str, columns: Sequence[str]) -> str:
    return f"{table}({', '.join(columns)})"


@dataclass(frozen=True)
class TableGaps:
    """What one table of the model lacks in the live database."""

    table: Table
    exists: bool
    columns: tuple[Column[Any], ...] = ()
    indexes: tuple[Index, ...] = ()
    uniques: tuple[UniqueConstraint | Index, ...] = ()
    partials: tuple[Index, ...] = ()
    defaults: tuple[Column[Any], ...] = ()
    not_null: tuple[Column[Any], ...] = ()
    foreign_required: tuple[str, ...] = ()
    trigger: str | None = None

    @property
    def complete(self) -> bool:
        """Whether nothing is missing."""
        return self.exists and not self.problems()

    def problems(self) -> list[str]:
        """One human-readable line per missing thing (what `manual()` says comes last)."""
        name = self.table.name
        if not self.exists:
            return [f"missing table {name}"]
        lines = [f"missing column {name}.{column.name}" for column in self.columns]
        lines += [f"missing default on {name}.{column.name}" for column in self.defaults]
        lines += [_not_null_line(name, column) for column in self.not_null]
        lines += [f"missing index on {_listed(name, _names(i.columns))}" for i in self.indexes]
        lines += [
            f"missing unique constraint on {_listed(name, _names(u.columns))}" for u in self.uniques
        ]
        lines += [
            f"missing partial unique index {p.name} on {_listed(name, _names(p.columns))}"
            for p in self.partials
        ]
        if self.trigger:
            lines.append(
                f"{self.trigger} trigger {trigger_name(name)} (SQLite: uuids typed as text)"
            )
        return lines + self.manual()

    def manual(self) -> list[str]:
        """The lines migrations do not repair: another application's columns, left to a person."""
        return [
            f"{self.table.name}.{column} is NOT NULL without a default and pims-sync does not "
            f"write it: the service's inserts into {self.table.name} fail; give it a default "
            "or allow NULL"
            for column in self.foreign_required
        ]


def _not_null_line(table: str, column: Column[Any]) -> str:
    why = column.info.get("null_means")
    return f"NOT NULL on {table}.{column.name}: the service stores NULL there" + (
        f" ({why})" if why else ""
    )


def partial_where(index: Index) -> Any:
    """The WHERE clause of a partial index of the model (None for a plain index)."""
    for dialect in ("postgresql", "sqlite"):
        where = index.dialect_options[dialect].get("where")
        if where is not None:
            return where
    return None


@dataclass(frozen=True)
class _Keys:
    """The column lists of a live table's indexes and keys."""

    primary: tuple[str, ...]
    ordered: list[tuple[str, ...]]
    unique: list[frozenset[str]]
    partial_unique: list[frozenset[str]]

    def indexed(self, columns: tuple[str, ...]) -> bool:
        # An index or key whose leading columns are these serves the same lookups.
        return any(existing[: len(columns)] == columns for existing in self.ordered)

    def unique_on(self, columns: tuple[str, ...]) -> bool:
        # ON CONFLICT needs a unique index on exactly this set of columns, in any order.
        return frozenset(columns) in self.unique


def _keys(inspector: Inspector, table: str) -> _Keys:
    primary = tuple(inspector.get_pk_constraint(table).get("constrained_columns") or ())
    keys = _Keys(primary=primary, ordered=[], unique=[], partial_unique=[])
    uniques = [tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)]
    for columns in ([primary] if primary else []) + uniques:
        keys.ordered.append(columns)
        keys.unique.append(frozenset(columns))
    for index in inspector.get_indexes(table):
        names = tuple(name for name in index["column_names"] if name is not None)
        if not names or len(names) != len(index["column_names"]):
            continue  # an expression index is no plain index on columns
        keys.ordered.append(names)
        if not index["unique"]:
            continue
        options = index.get("dialect_options", {})
        # A partial unique index cannot serve ON CONFLICT on its columns: counted apart.
        partial = any(options.get(f"{d}_where") is not None for d in ("postgresql", "sqlite"))
        (keys.partial_unique if partial else keys.unique).append(frozenset(names))
    return keys


def _has_default(column: ReflectedColumn) -> bool:
    # Identity and generated columns fill themselves in, without a DEFAULT.
    return bool(column.get("default") or column.get("identity") or column.get("computed"))


def _defaults(table: Table, live: dict[str, ReflectedColumn]) -> tuple[Column[Any], ...]:
    # The service's INSERTs leave out what has a default in the model (ids, timestamps…).
    return tuple(
        c
        for c in table.columns
        if c.name in live and c.server_default is not None and not _has_default(live[c.name])
    )


def _not_null(table: Table, live: dict[str, ReflectedColumn]) -> tuple[Column[Any], ...]:
    return tuple(
        c
        for c in table.columns
        if c.name in live and c.nullable and not c.primary_key and not live[c.name]["nullable"]
    )


def _foreign_required(
    table: Table, live: dict[str, ReflectedColumn], primary: tuple[str, ...]
) -> tuple[str, ...]:
    # Another application's column that no INSERT of ours fills and the database cannot.
    return tuple(
        name
        for name, column in live.items()
        if name not in table.columns
        and name not in primary
        and not column["nullable"]
        and not _has_default(column)
    )


def _trigger(inspector: Inspector, table: Table) -> str | None:
    bind = inspector.bind
    return trigger_gap(bind, table) if isinstance(bind, Connection) else None


def table_gaps(inspector: Inspector, table: Table) -> TableGaps:
    """What `table` lacks in the database the inspector looks at."""
    if not inspector.has_table(table.name):
        return TableGaps(table, exists=False)
    live = {column["name"]: column for column in inspector.get_columns(table.name)}
    keys = _keys(inspector, table.name)
    partials = [i for i in table.indexes if i.unique and partial_where(i) is not None]
    uniques: list[UniqueConstraint | Index] = [
        i for i in table.indexes if i.unique and partial_where(i) is None
    ]
    uniques += [c for c in table.constraints if isinstance(c, UniqueConstraint)]
    return TableGaps(
        table,
        exists=True,
        columns=tuple(column for column in table.columns if column.name not in live),
        indexes=tuple(
            i for i in table.indexes if not i.unique and not keys.indexed(_names(i.columns))
        ),
        uniques=tuple(u for u in uniques if not keys.unique_on(_names(u.columns))),
        # Only presence is checked, by columns: the WHERE clause is not compared.
        partials=tuple(
            p for p in partials if frozenset(_names(p.columns)) not in keys.partial_unique
        ),
        defaults=_defaults(table, live),
        not_null=_not_null(table, live),
        foreign_required=_foreign_required(table, live, keys.primary),
        trigger=_trigger(inspector, table),
    )


@dataclass(frozen=True)
class SchemaReport:
    """What a database lacks, and which of it migrations leave to a person."""

    problems: list[str]
    manual: list[str]

    @property
    def repairable(self) -> list[str]:
        """The problems `pims-sync db upgrade --repair` fixes."""
        return [problem for problem in self.problems if problem not in self.manual]


def schema_report(connection: Connection, metadata: MetaData = model) -> SchemaReport:
    """Everything the live database lacks compared with the model; empty when all is there."""
    problems, manual = [], []
    head, current = head_revision(), current_revision(connection)
    if current != head:
        at = f"it is at {current}" if current else "it has no revision"
        problems.append(f"database not migrated to head revision {head} ({at})")
    inspector = inspect(connection)
    for table in metadata.sorted_tables:
        gaps = table_gaps(inspector, table)
        problems += gaps.problems()
        manual += gaps.manual()
    if metadata is model:
        problems += range_gaps(connection)  # the model's Postgres-only parts
    return SchemaReport(problems, manual)


def database_report(url: str) -> SchemaReport:
    """Connect to the database at `url` and report what it lacks (see `schema_report`)."""
    path = make_url(url).database if make_url(url).get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not Path(path).exists():
        # Connecting would create it, empty.
        return SchemaReport([f"database file {path} does not exist"], [])
    engine = create_sync_db_engine(url)
    try:
        with engine.connect() as connection:
            return schema_report(connection)
    finally:
        engine.dispose()


def check_database(url: str) -> list[str]:
    """Connect to the database at `url` and list what it lacks (see `schema_report`)."""
    return database_report(url).problems
