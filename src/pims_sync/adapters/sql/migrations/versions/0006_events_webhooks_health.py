"""The outbox of events, webhook endpoints and their deliveries, each clinic's sync health.

`sync_events` holds one row per committed change, numbered per clinic (`seq`);
`sync_event_sequences` gives the numbers out. `webhook_endpoints` and
`webhook_deliveries` are where events are delivered and each attempt's outcome.
`clinic_sync_health` keeps a clinic's pause, failures in a row, last announced freshness
and its own thresholds. `pims_request_usage.logins` counts the day's PIMS logins. An index
on `case_sync_audits` (clinic_id, sync_type, completed_at) finds each phase's last success
with one probe.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    Date,
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

from pims_sync.adapters.sql.defaults import RandomUuid, install_trigger
from pims_sync.adapters.sql.migrations.ensure import ensure_table
from pims_sync.adapters.sql.types import JsonDocument, TextList, UtcDateTime

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NOW = text("CURRENT_TIMESTAMP")
ZERO = text("0")
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


def _request_usage(meta: MetaData) -> Table:
    """`pims_request_usage` as of this revision."""
    return Table(
        "pims_request_usage",
        meta,
        _id(),
        _clinic_fk(),
        Column("day", Date(), nullable=False),
        Column("requests", Integer(), nullable=False, server_default=ZERO),
        Column("logins", Integer(), nullable=False, server_default=ZERO),
        Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW),
        UniqueConstraint("clinic_id", "day"),
    )


def _events(meta: MetaData) -> list[Table]:
    """`sync_events` and `sync_event_sequences` as of this revision."""
    return [
        Table(
            "sync_events",
            meta,
            _id(),
            _clinic_fk(),
            Column("seq", BigInteger(), nullable=False),
            Column("type", Text(), nullable=False),
            Column("subject_id", Text(), nullable=True),
            Column("payload", JsonDocument, nullable=False, server_default=text("'{}'")),
            Column("created_at", UtcDateTime(), nullable=False, server_default=NOW),
            UniqueConstraint("clinic_id", "seq"),
        ),
        Table(
            "sync_event_sequences",
            meta,
            _id(),
            _clinic_fk(unique=True),
            Column("last_seq", BigInteger(), nullable=False, server_default=ZERO),
        ),
    ]


def _webhooks(meta: MetaData) -> list[Table]:
    """`webhook_endpoints` and `webhook_deliveries` as of this revision."""
    endpoints = Table(
        "webhook_endpoints",
        meta,
        _id(),
        _clinic_fk(),
        Column("url", Text(), nullable=False),
        Column("description", Text(), nullable=True),
        Column("event_types", TextList, nullable=True),
        Column("encrypted_secret", Text(), nullable=False),
        Column("is_active", Boolean(), nullable=False, server_default=text("true")),
        Column("disabled_reason", Text(), nullable=True),
        Column("disabled_at", UtcDateTime(), nullable=True),
        Column("delivered_seq", BigInteger(), nullable=False, server_default=ZERO),
        Column("attempt", Integer(), nullable=False, server_default=ZERO),
        Column("next_attempt_at", UtcDateTime(), nullable=True),
        Column("failing_since", UtcDateTime(), nullable=True),
        *_stamps(),
        Index(None, "clinic_id"),
    )
    deliveries = Table(
        "webhook_deliveries",
        meta,
        _id(),
        Column(
            "endpoint_id",
            Uuid(),
            ForeignKey("webhook_endpoints.id", ondelete="CASCADE"),
            nullable=False,
        ),
        _clinic_fk(),
        Column("event_id", Uuid(), nullable=False),
        Column("seq", BigInteger(), nullable=False),
        Column("attempt", Integer(), nullable=False),
        Column("outcome", Text(), nullable=False),
        Column("status_code", Integer(), nullable=True),
        Column("duration_ms", Integer(), nullable=False, server_default=ZERO),
        Column("error", Text(), nullable=True),
        Column("attempted_at", UtcDateTime(), nullable=False, server_default=NOW),
        Index(None, "endpoint_id", "attempted_at"),
    )
    return [endpoints, deliveries]


def _health(meta: MetaData) -> Table:
    """`clinic_sync_health` as of this revision."""
    return Table(
        "clinic_sync_health",
        meta,
        _id(),
        _clinic_fk(unique=True),
        Column("paused_at", UtcDateTime(), nullable=True),
        Column("paused_reason", Text(), nullable=True),
        Column("consecutive_failures", Integer(), nullable=False, server_default=ZERO),
        Column("freshness_status", Text(), nullable=True),
        Column("freshness_changed_at", UtcDateTime(), nullable=True),
        Column("inbound_threshold_seconds", Integer(), nullable=True),
        Column("cases_threshold_seconds", Integer(), nullable=True),
        Column("reconciliation_threshold_seconds", Integer(), nullable=True),
        Column("warn_after_failures", Integer(), nullable=True),
        Column("pause_after_failures", Integer(), nullable=True),
        Column("daily_login_budget", Integer(), nullable=True),
        *_stamps(),
    )


def upgrade() -> None:
    """Create the new tables and add `pims_request_usage.logins`; drop nothing."""
    meta = _meta()
    tables = [_request_usage(meta), *_events(meta), *_webhooks(meta), _health(meta)]
    for table in tables:
        ensure_table(table)
        install_trigger(op.get_bind(), table)
    op.create_index(
        "ix_case_sync_audits_clinic_id_sync_type_completed_at",
        "case_sync_audits",
        ["clinic_id", "sync_type", "completed_at"],
        if_not_exists=True,
    )


def downgrade() -> None:
    """Not supported: a shared database may hold data we must never drop."""
    raise NotImplementedError("pims-sync migrations are forward-only")
