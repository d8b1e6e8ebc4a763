"""Database-side defaults for hand-written SQL, and NULL where the service writes it.

The original's getting-started SQL inserts rows without `id`, `created_at` or
`updated_at` (`INSERT INTO clinic_api_keys (clinic_id, key_prefix, key_hash, name) …`):
every `id` gets a random uuid default (`gen_random_uuid()` on Postgres, a uuid4
expression on SQLite), and every other default of the model that an existing column
lacks is added (an existing default is never replaced). Tables created with the
original's DDL have `clinic_api_keys.clinic_id NOT NULL`, which refuses service keys:
NOT NULL is dropped on the columns the model keeps nullable. On SQLite, each table gets
a trigger that rewrites uuids typed with dashes to the stored form. No row is changed.

Columns only, as of this revision: keys and indexes are 0001-0004's.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Boolean, Column, Date, Integer, MetaData, Table, Text, Uuid, text

from pims_sync.adapters.sql.defaults import RandomUuid
from pims_sync.adapters.sql.migrations.ensure import complete_columns
from pims_sync.adapters.sql.types import JsonDocument, TextList, UtcDateTime

revision: str = "0005"
down_revision: str | Sequence[str] | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = text("CURRENT_TIMESTAMP")
TRUE = text("true")
COUNTERS = (
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


def _id() -> Column[object]:
    return Column("id", Uuid(), primary_key=True, server_default=RandomUuid())


def _clinic_id(*, nullable: bool = False) -> Column[object]:
    return Column("clinic_id", Uuid(), nullable=nullable)


def _at(name: str, *, default: bool = True) -> Column[object]:
    if default:
        return Column(name, UtcDateTime(), nullable=False, server_default=NOW)
    return Column(name, UtcDateTime(), nullable=True)


def _text(name: str, default: str | None = None, *, nullable: bool = False) -> Column[object]:
    return Column(name, Text(), nullable=nullable, server_default=default)


def _tables() -> list[Table]:
    """The columns of every table as of this revision, parents before children."""
    meta = MetaData()
    return [
        Table(
            "clinics",
            meta,
            _id(),
            _text("name"),
            _text("timezone", "America/Los_Angeles"),
            _text("pims_type", "idexx_neo"),
            Column("is_active", Boolean(), nullable=False, server_default=TRUE),
            _at("created_at"),
            _at("updated_at"),
        ),
        Table(
            "clinic_api_keys",
            meta,
            _id(),
            _clinic_id(nullable=True),
            _text("name", "default"),
            _text("key_prefix"),
            _text("key_hash"),
            Column("permissions", TextList, nullable=True),
            Column("is_active", Boolean(), nullable=False, server_default=TRUE),
            _at("expires_at", default=False),
            _at("last_used_at", default=False),
            _at("created_at"),
        ),
        Table(
            "pims_credentials",
            meta,
            _id(),
            _clinic_id(),
            _text("provider_type", "idexx"),
            _text("encrypted_data"),
            _at("created_at"),
            _at("updated_at"),
        ),
        Table(
            "case_sync_audits",
            meta,
            _id(),
            _clinic_id(),
            _text("sync_type"),
            _text("status", "in_progress"),
            *(Column(name, Integer(), nullable=False, server_default="0") for name in COUNTERS),
            _at("last_progress_update", default=False),
            _text("error_message", nullable=True),
            Column("parent_id", Uuid(), nullable=True),
            _text("triggered_by", "api"),
            Column("result", JsonDocument, nullable=True),
            _at("heartbeat_at", default=False),
            _at("started_at"),
            _at("completed_at", default=False),
            _at("created_at"),
            _at("updated_at"),
        ),
        Table(
            "clinic_schedule_configs",
            meta,
            _id(),
            _clinic_id(),
            Column("sync_schedules", JsonDocument, nullable=False, server_default=text("'[]'")),
            _at("created_at"),
            _at("updated_at"),
        ),
        Table(
            "schedule_fires",
            meta,
            _id(),
            _clinic_id(),
            _text("sync_type"),
            Column("fire_at", UtcDateTime(), nullable=False),
            _text("status", "claimed"),
            _text("claimed_by"),
            _at("claimed_at"),
            _text("reason", nullable=True),
            Column("run_id", Uuid(), nullable=True),
            _text("run_by", nullable=True),
            _at("finished_at", default=False),
            _at("updated_at"),
        ),
        Table(
            "cases",
            meta,
            _id(),
            _clinic_id(),
            _text("external_id"),
            _text("source"),
            _text("status", "draft"),
            _text("type", "checkup"),
            _text("visibility", "private"),
            _at("scheduled_at", default=False),
            Column("metadata", JsonDocument, nullable=False, server_default=text("'{}'")),
            _at("created_at"),
            _at("updated_at"),
        ),
        Table(
            "patients",
            meta,
            _id(),
            Column("case_id", Uuid(), nullable=True),
            _clinic_id(),
            *(
                _text(name, nullable=True)
                for name in ("name", "species", "breed", "owner_name", "owner_phone", "owner_email")
            ),
            _at("created_at"),
            _at("updated_at"),
        ),
        Table(
            "pims_session_cache",
            meta,
            _id(),
            _clinic_id(),
            _text("encrypted_cookies"),
            _at("created_at"),
            _at("last_used_at"),
            Column("expires_at", UtcDateTime(), nullable=False),
            _text("binding", nullable=True),
        ),
        Table(
            "pims_request_usage",
            meta,
            _id(),
            _clinic_id(),
            Column("day", Date(), nullable=False),
            Column("requests", Integer(), nullable=False, server_default=text("0")),
            _at("updated_at"),
        ),
    ]


def upgrade() -> None:
    """Add the missing defaults, drop NOT NULL where the service writes NULL; drop nothing."""
    for table in _tables():
        complete_columns(table)


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
