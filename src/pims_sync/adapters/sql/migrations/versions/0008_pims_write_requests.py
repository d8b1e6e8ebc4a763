"""Booking writes sent to the PIMS, one per clinic and Idempotency-Key (exactly once).

`pims_write_requests` keeps each create, cancel and reschedule of the booking routes: the
key, the route and a hash of its body, its state (`pending`, `succeeded`, `failed`,
`unknown`), its progress and answer (`result`), the attempt that holds it and its lease.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import (
    Column,
    ForeignKey,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from pims_sync.adapters.sql.defaults import RandomUuid, install_trigger
from pims_sync.adapters.sql.migrations.ensure import ensure_table
from pims_sync.adapters.sql.types import JsonDocument, UtcDateTime

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
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


def _write_requests() -> Table:
    """`pims_write_requests` as of this revision."""
    meta = MetaData(naming_convention=NAMING_CONVENTION)
    Table("clinics", meta, Column("id", Uuid(), primary_key=True))
    return Table(
        "pims_write_requests",
        meta,
        Column("id", Uuid(), primary_key=True, server_default=RandomUuid()),
        Column("clinic_id", Uuid(), ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False),
        Column("idempotency_key", Text(), nullable=False),
        Column("route", Text(), nullable=False),
        Column("body_hash", Text(), nullable=False),
        Column("state", Text(), nullable=False, server_default="pending"),
        Column("attempt", Integer(), nullable=False, server_default=text("1")),
        Column("result", JsonDocument, nullable=False, server_default=text("'{}'")),
        Column("lease_until", UtcDateTime(), nullable=True),
        Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
        Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
        UniqueConstraint("clinic_id", "idempotency_key"),
    )


def upgrade() -> None:
    """Create the table (or complete it); drop nothing."""
    table = _write_requests()
    ensure_table(table)
    install_trigger(op.get_bind(), table)


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
