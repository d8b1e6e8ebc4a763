"""The data model (docs/architecture.md#data-model), created or completed in place.

A frozen copy of tables.py as it was at this revision (later changes to tables.py
need a new revision). Every table goes through `ensure_table`, so on an existing
Supabase database this only adds what is missing and never drops anything.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import (
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    Uuid,
    text,
)

from pims_sync.adapters.sql.migrations.ensure import ensure_table
from pims_sync.adapters.sql.types import JsonDocument, TextList, UtcDateTime

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
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


def _timestamp(name: str) -> Column[object]:
    return Column(name, UtcDateTime(), nullable=False, server_default=NOW)


def _clinic_fk(*, nullable: bool = False, unique: bool = False) -> Column[object]:
    fk = ForeignKey("clinics.id", ondelete="CASCADE")
    return Column("clinic_id", Uuid(), fk, nullable=nullable, unique=unique)


def _count(name: str) -> Column[object]:
    return Column(name, Integer(), nullable=False, server_default="0")


def _tables() -> list[Table]:
    """The tables of this revision, parents before children."""
    meta = MetaData(naming_convention=NAMING_CONVENTION)
    clinics = Table(
        "clinics",
        meta,
        Column("id", Uuid(), primary_key=True),
        Column("name", Text(), nullable=False),
        Column("timezone", Text(), nullable=False, server_default="America/Los_Angeles"),
        Column("pims_type", Text(), nullable=False, server_default="idexx_neo"),
        Column("is_active", Boolean(), nullable=False, server_default=text("true")),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    api_keys = Table(
        "clinic_api_keys",
        meta,
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(nullable=True),
        Column("name", Text(), nullable=False, server_default="default"),
        Column("key_prefix", Text(), nullable=False),
        Column("key_hash", Text(), nullable=False, unique=True),
        Column("permissions", TextList, nullable=True),
        Column("is_active", Boolean(), nullable=False, server_default=text("true")),
        Column("expires_at", UtcDateTime(), nullable=True),
        Column("last_used_at", UtcDateTime(), nullable=True),
        _timestamp("created_at"),
        Index(None, "key_prefix"),
        Index(None, "clinic_id"),
    )
    credentials = Table(
        "pims_credentials",
        meta,
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(unique=True),
        Column("provider_type", Text(), nullable=False, server_default="idexx"),
        Column("encrypted_data", Text(), nullable=False),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    audits = Table(
        "case_sync_audits",
        meta,
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(),
        Column("sync_type", Text(), nullable=False),
        Column("status", Text(), nullable=False, server_default="in_progress"),
        *(
            _count(name)
            for name in (
                "appointments_found",
                "cases_created",
                "cases_updated",
                "cases_enriched",
                "cases_deleted",
                "cases_skipped",
                "cases_failed",
                "total_items",
                "processed_items",
                "progress_percentage",
            )
        ),
        Column("last_progress_update", UtcDateTime(), nullable=True),
        Column("error_message", Text(), nullable=True),
        Column("parent_id", Uuid(), ForeignKey("case_sync_audits.id", ondelete="CASCADE")),
        Column("triggered_by", Text(), nullable=False, server_default="api"),
        Column("result", JsonDocument, nullable=True),
        Column("heartbeat_at", UtcDateTime(), nullable=True),
        _timestamp("started_at"),
        Column("completed_at", UtcDateTime(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        Index(None, "clinic_id"),
        Index(None, "sync_type"),
        Index(None, "parent_id"),
    )
    schedules = Table(
        "clinic_schedule_configs",
        meta,
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(unique=True),
        Column("sync_schedules", JsonDocument, nullable=False, server_default=text("'[]'")),
        _timestamp("created_at"),
        _timestamp("updated_at"),
    )
    cases = Table(
        "cases",
        meta,
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(),
        Column("external_id", Text(), nullable=False),
        Column("source", Text(), nullable=False),
        Column("status", Text(), nullable=False, server_default="draft"),
        Column("type", Text(), nullable=False, server_default="checkup"),
        Column("visibility", Text(), nullable=False, server_default="private"),
        Column("scheduled_at", UtcDateTime(), nullable=True),
        Column("metadata", JsonDocument, nullable=False, server_default=text("'{}'")),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        UniqueConstraint("clinic_id", "external_id"),
        Index(None, "clinic_id", "scheduled_at"),
    )
    patients = Table(
        "patients",
        meta,
        Column("id", Uuid(), primary_key=True),
        Column("case_id", Uuid(), ForeignKey("cases.id", ondelete="CASCADE"), unique=True),
        _clinic_fk(),
        Column("name", Text(), nullable=True),
        Column("species", Text(), nullable=True),
        Column("breed", Text(), nullable=True),
        Column("owner_name", Text(), nullable=True),
        Column("owner_phone", Text(), nullable=True),
        Column("owner_email", Text(), nullable=True),
        _timestamp("created_at"),
        _timestamp("updated_at"),
        Index(None, "clinic_id"),
    )
    session_cache = Table(
        "pims_session_cache",
        meta,
        Column("id", Uuid(), primary_key=True),
        _clinic_fk(unique=True),
        Column("encrypted_cookies", Text(), nullable=False),
        _timestamp("created_at"),
        _timestamp("last_used_at"),
        Column("expires_at", UtcDateTime(), nullable=False),
    )
    return [clinics, api_keys, credentials, audits, schedules, cases, patients, session_cache]


def upgrade() -> None:
    """Create each missing table; complete each existing one; drop nothing."""
    for table in _tables():
        ensure_table(table)


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
