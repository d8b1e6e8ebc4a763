"""The schedule mirror, the days it covers, each clinic's booking rules, availability holds.

`pims_appointments` keeps every calendar event inbound reads (appointments, blocks,
rosters), `deleted_at` marking those removed or cancelled in the PIMS;
`pims_calendar_days` when each clinic day was last read; `clinic_booking_configs` a
clinic's booking rules (JSON); `availability_holds` short holds on free slots. On Postgres
also: the `btree_gist` extension, `pims_appointments.span` (a generated tstzrange) with a
GiST index, and an exclusion constraint that keeps two unreleased holds of one resource
from overlapping. On SQLite the holds store checks the same inside one write transaction.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import (
    Column,
    Connection,
    Date,
    ForeignKey,
    Index,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    inspect,
    text,
)

from pims_sync.adapters.sql.defaults import RandomUuid, install_trigger
from pims_sync.adapters.sql.migrations.ensure import ensure_table
from pims_sync.adapters.sql.ranges import ensure_extension
from pims_sync.adapters.sql.types import JsonDocument, UtcDateTime

revision: str = "0007"
down_revision: str | Sequence[str] | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = text("CURRENT_TIMESTAMP")
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# The Postgres-only parts as of this revision: (what is checked, the DDL).
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


def _meta() -> MetaData:
    meta = MetaData(naming_convention=NAMING_CONVENTION)
    Table("clinics", meta, Column("id", Uuid(), primary_key=True))
    return meta


def _id() -> Column[object]:
    return Column("id", Uuid(), primary_key=True, server_default=RandomUuid())


def _clinic_fk(*, unique: bool = False) -> Column[object]:
    return Column(
        "clinic_id",
        Uuid(),
        ForeignKey("clinics.id", ondelete="CASCADE"),
        nullable=False,
        unique=unique,
    )


def _stamps() -> list[Column[object]]:
    return [
        Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
        Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
    ]


def _mirror(meta: MetaData) -> list[Table]:
    """`pims_appointments` and `pims_calendar_days` as of this revision."""
    events = Table(
        "pims_appointments",
        meta,
        _id(),
        _clinic_fk(),
        Column("external_id", Text(), nullable=False),
        Column("kind", Text(), nullable=False),
        Column("starts_at", UtcDateTime(), nullable=False),
        Column("ends_at", UtcDateTime(), nullable=False),
        *(
            Column(name, Text(), nullable=True)
            for name in (
                "resource_id",
                "room_name",
                "provider_name",
                "appointment_type",
                "status",
                "patient_name",
                "client_name",
            )
        ),
        Column("sync_hash", Text(), nullable=False),
        Column("last_synced_at", UtcDateTime(), nullable=False, server_default=NOW),
        Column("deleted_at", UtcDateTime(), nullable=True),
        *_stamps(),
        UniqueConstraint("clinic_id", "external_id", "kind"),
        Index(None, "clinic_id", "starts_at"),
    )
    days = Table(
        "pims_calendar_days",
        meta,
        _id(),
        _clinic_fk(),
        Column("day", Date(), nullable=False),
        Column("synced_at", UtcDateTime(), nullable=False),
        UniqueConstraint("clinic_id", "day"),
    )
    return [events, days]


def _booking(meta: MetaData) -> list[Table]:
    """`clinic_booking_configs` and `availability_holds` as of this revision."""
    configs = Table(
        "clinic_booking_configs",
        meta,
        _id(),
        _clinic_fk(unique=True),
        Column("rules", JsonDocument, nullable=False, server_default=text("'{}'")),
        *_stamps(),
    )
    holds = Table(
        "availability_holds",
        meta,
        _id(),
        _clinic_fk(),
        Column("resource_id", Text(), nullable=False),
        Column("starts_at", UtcDateTime(), nullable=False),
        Column("ends_at", UtcDateTime(), nullable=False),
        Column("busy_from", UtcDateTime(), nullable=False),
        Column("busy_until", UtcDateTime(), nullable=False),
        Column("expires_at", UtcDateTime(), nullable=False),
        Column("released_at", UtcDateTime(), nullable=True),
        Column("reference", Text(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
        Index(None, "clinic_id", "starts_at"),
    )
    return [configs, holds]


def _exists(bind: Connection, query: str, name: str) -> bool:
    return bind.execute(text(query), {"name": name}).first() is not None


def _postgres_parts(bind: Connection) -> None:
    """The extension, the mirror's span and its GiST index, the holds' exclusion constraint."""
    ensure_extension(bind)
    columns = {column["name"] for column in inspect(bind).get_columns("pims_appointments")}
    if "span" not in columns:
        bind.exec_driver_sql(SPAN_DDL)
    if not _exists(bind, "SELECT 1 WHERE to_regclass(:name) IS NOT NULL", SPAN_INDEX):
        bind.exec_driver_sql(SPAN_INDEX_DDL)
    if not _exists(bind, "SELECT 1 FROM pg_constraint WHERE conname = :name", HOLDS_EXCLUSION):
        bind.exec_driver_sql(HOLDS_EXCLUSION_DDL)


def upgrade() -> None:
    """Create the four tables (or complete them); on Postgres, their ranges; drop nothing."""
    bind = op.get_bind()
    meta = _meta()
    for table in [*_mirror(meta), *_booking(meta)]:
        ensure_table(table)
        install_trigger(bind, table)
    if bind.dialect.name == "postgresql":
        _postgres_parts(bind)


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
