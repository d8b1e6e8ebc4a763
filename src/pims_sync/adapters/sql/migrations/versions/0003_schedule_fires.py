"""Schedule fire times (`schedule_fires`) and, on Postgres, procrastinate's job queue schema.

`schedule_fires` records each fire time of each schedule once (unique clinic, type,
fire_at): the claim that makes a fire time run exactly once across processes.
procrastinate's own schema SQL is applied on Postgres when its tables are absent
(never dropped, never re-applied); SQLite runs jobs in-process and needs none.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import (
    Column,
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

from pims_sync.adapters.sql.migrations.ensure import ensure_table
from pims_sync.adapters.sql.types import UtcDateTime

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
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


def _fires() -> Table:
    """`schedule_fires` as of this revision (clinics only as the foreign key's target)."""
    meta = MetaData(naming_convention=NAMING_CONVENTION)
    Table("clinics", meta, Column("id", Uuid(), primary_key=True))
    return Table(
        "schedule_fires",
        meta,
        Column("id", Uuid(), primary_key=True),
        Column("clinic_id", Uuid(), ForeignKey("clinics.id", ondelete="CASCADE"), nullable=False),
        Column("sync_type", Text(), nullable=False),
        Column("fire_at", UtcDateTime(), nullable=False),
        Column("status", Text(), nullable=False, server_default="claimed"),
        Column("claimed_by", Text(), nullable=False),
        Column("claimed_at", UtcDateTime(), nullable=False, server_default=NOW),
        Column("reason", Text(), nullable=True),
        Column("run_id", Uuid(), nullable=True),
        Column("run_by", Text(), nullable=True),
        Column("finished_at", UtcDateTime(), nullable=True),
        Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
        UniqueConstraint("clinic_id", "sync_type", "fire_at"),
        Index(None, "fire_at"),
        Index(None, "run_id"),
    )


def _install_procrastinate() -> None:
    """procrastinate's schema, from procrastinate itself, when its jobs table is missing."""
    bind = op.get_bind()
    if bind.dialect.name != "postgresql" or inspect(bind).has_table("procrastinate_jobs"):
        return
    from procrastinate.schema import SchemaManager

    # One script of DDL; `%` doubled because the driver treats the text as a template
    # (procrastinate's own apply_schema does the same).
    bind.exec_driver_sql(SchemaManager.get_schema().replace("%", "%%"))


def upgrade() -> None:
    """Create or complete `schedule_fires`; install procrastinate's schema on Postgres."""
    ensure_table(_fires())
    _install_procrastinate()


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
