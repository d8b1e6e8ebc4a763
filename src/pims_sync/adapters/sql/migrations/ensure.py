"""Create or complete one table without dropping anything: safe on a shared Supabase database."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from alembic import op
from alembic.operations import BatchOperations, Operations
from alembic.runtime.migration import MigrationContext
from sqlalchemy import (
    CheckConstraint,
    Column,
    Connection,
    DefaultClause,
    ForeignKey,
    Index,
    MetaData,
    Table,
    func,
    inspect,
    select,
    text,
)
from sqlalchemy import column as column_ref
from sqlalchemy import table as table_ref
from sqlalchemy.sql.expression import ColumnClause, ColumnElement, TextClause

from pims_sync.adapters.sql.defaults import install_trigger, live_triggers
from pims_sync.adapters.sql.migrate import ALEMBIC_LOCK, migration_connection
from pims_sync.adapters.sql.ranges import install_ranges
from pims_sync.adapters.sql.schema import TableGaps, partial_where, table_gaps
from pims_sync.adapters.sql.tables import metadata as model
from pims_sync.errors import UnsafeMigrationError


def ensure_table(table: Table) -> None:
    """Create `table` if missing, else add its missing columns, indexes and unique keys."""
    bind = op.get_bind()
    gaps = table_gaps(inspect(bind), table)
    if not gaps.exists:
        table.create(bind)  # with its keys and indexes, exactly as the model has them
        return
    _add_columns(bind, gaps)
    for index in gaps.indexes:
        op.create_index(index.name, table.name, [c.name for c in index.columns])
    for unique in gaps.uniques:
        _add_unique(bind, table.name, str(unique.name), [c.name for c in unique.columns])
    for partial in gaps.partials:
        add_partial_unique_index(bind, table.name, partial)


def add_partial_unique_index(bind: Connection, table: str, index: Index) -> None:
    """Create a partial unique index, or stop (changing no row) if rows would violate it."""
    columns = [c.name for c in index.columns]
    where = partial_where(index)
    refs: list[ColumnClause[Any]] = [column_ref(c) for c in columns]
    duplicate = bind.execute(
        select(*refs)
        .select_from(table_ref(table, *refs))
        .where(where)
        .group_by(*refs)
        .having(func.count() > 1)
        .limit(1)
    ).first()
    if duplicate is not None:
        values = ", ".join(f"{c}={v!r}" for c, v in zip(columns, duplicate, strict=True))
        raise UnsafeMigrationError(
            f"cannot add unique index {index.name} on {table}({', '.join(columns)}) "
            f"WHERE {where}: several rows have {values}; fix them (e.g. mark the "
            "forgotten ones failed), then run `pims-sync db upgrade` again "
            "(the migration changes no rows)"
        )
    op.create_index(
        index.name, table, columns, unique=True, sqlite_where=where, postgresql_where=where
    )


def _addable(column: Column[Any]) -> Column[Any]:
    """A copy existing rows accept: NOT NULL only when a server default fills them in."""
    default_arg = None if column.server_default is None else _default_arg(column)
    foreign_keys = [
        ForeignKey(fk.target_fullname, ondelete=fk.ondelete) for fk in column.foreign_keys
    ]
    return Column(
        column.name,
        column.type,
        *foreign_keys,
        nullable=column.nullable or default_arg is None,
        server_default=default_arg,
    )


def _add_columns(bind: Connection, gaps: TableGaps) -> None:
    if not gaps.columns:
        return
    if bind.dialect.name == "sqlite":
        # SQLite cannot ADD COLUMN with a CURRENT_TIMESTAMP default or a foreign key.
        with rebuilt(bind, gaps.table.name) as batch:
            for column in gaps.columns:
                batch.add_column(_addable(column))
        return
    for column in gaps.columns:
        op.add_column(gaps.table.name, _addable(column))


@contextmanager
def rebuilt(bind: Connection, table: str) -> Iterator[BatchOperations]:
    """SQLite's batch mode: the table is copied (every column and row) into its new shape.

    Dropping the old copy drops its triggers (ours and any other application's): they are
    created again, from their own text, on the new copy; unnamed CHECK constraints, which
    batch mode would leave out, are passed along.
    """
    triggers = live_triggers(bind, table)
    # Batch mode keeps named CHECK constraints only (the original's DDL names none).
    checks = tuple(
        CheckConstraint(text(check["sqltext"]))
        for check in inspect(bind).get_check_constraints(table)
        if not check.get("name")
    )
    with op.batch_alter_table(table, recreate="always", table_args=checks) as batch:
        yield batch
    kept = live_triggers(bind, table)
    for name, sql in triggers.items():
        if name not in kept:
            bind.exec_driver_sql(sql)


def complete_columns(table: Table) -> None:
    """Give existing columns their missing defaults and NULL where the service writes it.

    Add-only in spirit: a default is added where a column has none (an existing one is
    never replaced), NOT NULL is dropped only on columns the model keeps nullable, and
    on SQLite the table gets its uuid trigger. Rows are not touched.
    """
    bind = op.get_bind()
    gaps = table_gaps(inspect(bind), table)
    if not gaps.exists:
        return
    _alter_columns(bind, gaps)
    install_trigger(bind, table)


def _alter_columns(bind: Connection, gaps: TableGaps) -> None:
    if not (gaps.defaults or gaps.not_null):
        return
    name = gaps.table.name
    if bind.dialect.name == "sqlite":
        # SQLite cannot ALTER a column: batch mode rebuilds the table with the new shape.
        with rebuilt(bind, name) as batch:
            for column in gaps.defaults:
                batch.alter_column(column.name, server_default=_default_arg(column))
            for column in gaps.not_null:
                batch.alter_column(column.name, nullable=True)
        return
    for column in gaps.defaults:
        op.alter_column(name, column.name, server_default=_default_arg(column))
    for column in gaps.not_null:
        op.alter_column(name, column.name, nullable=True)


def _default_arg(column: Column[Any]) -> str | TextClause | ColumnElement[Any]:
    # Our models only give plain-string, text() or function (RandomUuid) defaults.
    default = column.server_default
    arg = default.arg if isinstance(default, DefaultClause) else None
    if not isinstance(arg, (str, TextClause, ColumnElement)):
        raise TypeError(f"unsupported server default on {column}")
    return arg


def _add_unique(bind: Connection, table: str, name: str, columns: list[str]) -> None:
    refs: list[ColumnClause[Any]] = [column_ref(c) for c in columns]
    duplicate = bind.execute(
        select(*refs)
        .select_from(table_ref(table, *refs))
        .where(*(ref.is_not(None) for ref in refs))
        .group_by(*refs)
        .having(func.count() > 1)
        .limit(1)
    ).first()
    if duplicate is not None:
        values = ", ".join(f"{c}={v!r}" for c, v in zip(columns, duplicate, strict=True))
        raise UnsafeMigrationError(
            f"cannot add unique constraint {name} on {table}({', '.join(columns)}): "
            f"several rows have {values}; merge or remove the duplicates, then run "
            "`pims-sync db upgrade` again (the migration deletes no rows)"
        )
    if bind.dialect.name == "sqlite":
        # SQLite cannot ALTER TABLE … ADD CONSTRAINT; a unique index enforces the same.
        op.create_index(name, table, columns, unique=True)
    else:
        op.create_unique_constraint(name, table, columns)


def repair_database(url: str, metadata: MetaData = model) -> None:
    """Re-add what the database lost after it was migrated; add-only, like the migrations."""
    with ALEMBIC_LOCK, migration_connection(url) as connection, connection.begin():
        context = MigrationContext.configure(connection, opts={"target_metadata": metadata})
        with Operations.context(context):
            for table in metadata.sorted_tables:
                ensure_table(table)
                complete_columns(table)
            if metadata is model:
                install_ranges(connection)
