"""The session cache's credentials binding, and the PIMS requests of each clinic per UTC day.

`pims_session_cache.binding` holds a hash of (base URL, username, company id): a cached
session is used only by the credentials it was opened with (existing rows have none, so
the next run logs in afresh). `pims_request_usage` counts each clinic's PIMS requests per
UTC day across processes, for the daily budget.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    Column,
    Date,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from pims_sync.adapters.sql.migrations.ensure import ensure_table
from pims_sync.adapters.sql.types import UtcDateTime

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
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


def _meta() -> MetaData:
    meta = MetaData(naming_convention=NAMING_CONVENTION)
    Table("clinics", meta, Column("id", Uuid(), primary_key=True))
    return meta


def _clinic_fk(*, unique: bool = False) -> Column[object]:
    return Column(
        "clinic_id",
        Uuid(),
        ForeignKey("clinics.id", ondelete="CASCADE"),
        nullable=False,
        unique=unique,
    )


def _session_cache() -> Table:
    """`pims_session_cache` as of this revision."""
    return Table(
        "pims_session_cache",
        _meta(),
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(unique=True),
        Column("encrypted_cookies", Text(), nullable=False),
        Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
        Column("last_used_at", UtcDateTime(), nullable=False, server_default=NOW),
        Column("expires_at", UtcDateTime(), nullable=False),
        Column("binding", Text(), nullable=True),
    )


def _request_usage() -> Table:
    """`pims_request_usage` as of this revision."""
    return Table(
        "pims_request_usage",
        _meta(),
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(),
        Column("day", Date(), nullable=False),
        Column("requests", Integer(), nullable=False, server_default=text("0")),
        Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
        UniqueConstraint("clinic_id", "day"),
    )


def upgrade() -> None:
    """Add `pims_session_cache.binding`; create `pims_request_usage`; drop nothing."""
    ensure_table(_session_cache())
    ensure_table(_request_usage())


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
