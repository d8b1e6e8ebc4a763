"""What exists on Postgres only: the mirror's time ranges and the holds' exclusion constraint.

`pims_appointments.span` is a generated `tstzrange` of `[starts_at, ends_at)` with a GiST
index on (clinic, span): availability reads a window's events by overlap. The exclusion
constraint on `availability_holds` keeps two unreleased holds of one clinic's resource from
overlapping, whoever inserts them (the equality parts need the `btree_gist` extension).
SQLite has none of these: the holds store checks the same inside one write transaction.

`db check` lists what is missing (`range_gaps`), migration 0007 and `db upgrade --repair`
create it (`install_ranges`); the DDL here is the model's, as `tables.py` is for tables.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, inspect, text
from sqlalchemy.exc import DBAPIError

from pims_sync.errors import DatabaseExtensionError, UnsafeMigrationError

EXTENSION = "btree_gist"
# The columns only the Postgres tables have (generated: the service never writes them).
POSTGRES_ONLY_COLUMNS = {"pims_appointments": frozenset({"span"})}
SPAN_INDEX = "ix_pims_appointments_clinic_id_span"
HOLDS_EXCLUSION = "ex_availability_holds_live_overlap"

SPAN_DDL = (
    "ALTER TABLE pims_appointments ADD COLUMN span tstzrange "
    "GENERATED ALWAYS AS (tstzrange(starts_at, ends_at, '[)')) STORED"
)
SPAN_INDEX_DDL = f"CREATE INDEX {SPAN_INDEX} ON pims_appointments USING gist (clinic_id, span)"
HOLDS_EXCLUSION_DDL = (
    f"ALTER TABLE availability_holds ADD CONSTRAINT {HOLDS_EXCLUSION} EXCLUDE USING gist "
    "(clinic_id WITH =, resource_id WITH =, tstzrange(busy_from, busy_until, '[)') WITH &&) "
    "WHERE (released_at IS NULL)"
)


def _has_extension(connection: Connection) -> bool:
    found = connection.execute(
        text("SELECT 1 FROM pg_extension WHERE extname = :name"), {"name": EXTENSION}
    )
    return found.first() is not None


def _has_span(connection: Connection) -> bool:
    columns = inspect(connection).get_columns("pims_appointments")
    return any(column["name"] == "span" for column in columns)


def _has_index(connection: Connection) -> bool:
    found = connection.execute(text("SELECT to_regclass(:name) IS NOT NULL"), {"name": SPAN_INDEX})
    return bool(found.scalar_one())


def _has_exclusion(connection: Connection) -> bool:
    found = connection.execute(
        text(
            "SELECT 1 FROM pg_constraint WHERE conname = :name "
            "AND conrelid = to_regclass('availability_holds')"
        ),
        {"name": HOLDS_EXCLUSION},
    )
    return found.first() is not None


@dataclass(frozen=True)
class _Part:
    """One Postgres-only part: the line `db check` says when it is missing, and its DDL."""

    missing: str
    table: str
    present: Callable[[Connection], bool]
    ddl: str


PARTS = (
    _Part(
        "missing column pims_appointments.span (tstzrange)",
        "pims_appointments",
        _has_span,
        SPAN_DDL,
    ),
    _Part(
        f"missing GiST index {SPAN_INDEX} on pims_appointments(clinic_id, span)",
        "pims_appointments",
        _has_index,
        SPAN_INDEX_DDL,
    ),
    _Part(
        f"missing exclusion constraint {HOLDS_EXCLUSION} on availability_holds",
        "availability_holds",
        _has_exclusion,
        HOLDS_EXCLUSION_DDL,
    ),
)


def range_gaps(connection: Connection) -> list[str]:
    """What the Postgres-only parts lack (nothing on SQLite, nor for a missing table)."""
    if connection.dialect.name != "postgresql":
        return []
    tables = set(inspect(connection).get_table_names())
    parts = [part for part in PARTS if part.table in tables]
    # The extension belongs to the parts: a database without their tables lacks the tables.
    problems = [] if not parts or _has_extension(connection) else [f"missing extension {EXTENSION}"]
    return problems + [part.missing for part in parts if not part.present(connection)]


def ensure_extension(connection: Connection) -> None:
    """`CREATE EXTENSION btree_gist` unless there; a clear error when the role may not."""
    if _has_extension(connection):
        return
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(f"CREATE EXTENSION IF NOT EXISTS {EXTENSION}")
    except DBAPIError as error:
        first = str(error.orig).strip().splitlines()[0] if error.orig else type(error).__name__
        raise DatabaseExtensionError(
            f"the Postgres extension {EXTENSION} is needed for the holds' exclusion constraint "
            f"and could not be created ({first}); enable it (Supabase: Database → Extensions), "
            "then run `pims-sync db upgrade` again"
        ) from error


def install_ranges(connection: Connection) -> None:
    """Create the Postgres-only parts that are missing (nothing on SQLite)."""
    if connection.dialect.name != "postgresql":
        return
    ensure_extension(connection)
    tables = set(inspect(connection).get_table_names())
    for part in PARTS:
        if part.table in tables and not part.present(connection):
            _create(connection, part)


def _create(connection: Connection, part: _Part) -> None:
    """Run one part's DDL; existing rows that break the constraint stop it, changing nothing."""
    try:
        with connection.begin_nested():
            connection.exec_driver_sql(part.ddl)
    except DBAPIError as error:
        if part.present is not _has_exclusion:
            raise
        raise UnsafeMigrationError(
            f"cannot add {HOLDS_EXCLUSION}: unreleased holds of one resource overlap; "
            "release them (DELETE /api/availability/holds/{id}, or set released_at), then run "
            "`pims-sync db upgrade --repair` again (nothing was changed)"
        ) from error
