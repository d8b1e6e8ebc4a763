"""One top-level run in progress per clinic: a partial unique index on case_sync_audits.

The index makes `RunStore.start()` safe across processes and machines: a second
INSERT of a live top-level run for the clinic fails. Created only if missing; if
existing rows would violate it, the upgrade stops and changes nothing.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import Column, Index, MetaData, Table, Text, Uuid, inspect, text

from pims_sync.adapters.sql.migrations.ensure import add_partial_unique_index
from pims_sync.adapters.sql.schema import table_gaps

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

WHERE = text("status = 'in_progress' AND parent_id IS NULL")


def _audits() -> Table:
    """The columns of case_sync_audits this revision needs, and its new index."""
    return Table(
        "case_sync_audits",
        MetaData(),
        Column("id", Uuid(), primary_key=True),
        Column("clinic_id", Uuid()),
        Column("status", Text()),
        Column("parent_id", Uuid()),
        Index(
            "uq_case_sync_audits_live_run",
            "clinic_id",
            unique=True,
            sqlite_where=WHERE,
            postgresql_where=WHERE,
        ),
    )


def upgrade() -> None:
    """Add the partial unique index when no index of that shape exists; drop nothing."""
    bind = op.get_bind()
    audits = _audits()
    for index in table_gaps(inspect(bind), audits).partials:
        add_partial_unique_index(bind, audits.name, index)


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
