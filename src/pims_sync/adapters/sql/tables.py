"""The data model as SQLAlchemy Core tables; migrations create them.

See docs/architecture.md#data-model.
"""

from __future__ import annotations

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

from pims_sync.adapters.sql.defaults import RandomUuid
from pims_sync.adapters.sql.types import JsonDocument, TextList, UtcDateTime

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

NOW = text("CURRENT_TIMESTAMP")

LIVE_RUN_INDEX = "uq_case_sync_audits_live_run"
LIVE_RUN_WHERE = text("status = 'in_progress' AND parent_id IS NULL")


def _id() -> Column[object]:
    # A database-side default: hand-written INSERTs (the original's SQL recipes) give no id.
    return Column("id", Uuid(), primary_key=True, server_default=RandomUuid())


def _created_at() -> Column[object]:
    return Column("created_at", UtcDateTime(), nullable=False, server_default=NOW)


def _updated_at() -> Column[object]:
    return Column("updated_at", UtcDateTime(), nullable=False, server_default=NOW)


def _clinic_fk(
    *, nullable: bool = False, unique: bool = False, null_means: str | None = None
) -> Column[object]:
    return Column(
        "clinic_id",
        Uuid(),
        ForeignKey("clinics.id", ondelete="CASCADE"),
        nullable=nullable,
        unique=unique,
        # Said by `db check` when a database has NOT NULL here.
        info={"null_means": null_means} if null_means else {},
    )


clinics = Table(
    "clinics",
    metadata,
    _id(),
    Column("name", Text(), nullable=False),
    Column("timezone", Text(), nullable=False, server_default="America/Los_Angeles"),
    Column("pims_type", Text(), nullable=False, server_default="idexx_neo"),
    Column("is_active", Boolean(), nullable=False, server_default=text("true")),
    _created_at(),
    _updated_at(),
)

clinic_api_keys = Table(
    "clinic_api_keys",
    metadata,
    _id(),
    _clinic_fk(nullable=True, null_means="service keys, bound to no clinic"),
    Column("name", Text(), nullable=False, server_default="default"),
    Column("key_prefix", Text(), nullable=False),
    Column("key_hash", Text(), nullable=False, unique=True),
    Column("permissions", TextList, nullable=True),
    Column("is_active", Boolean(), nullable=False, server_default=text("true")),
    Column("expires_at", UtcDateTime(), nullable=True),
    Column("last_used_at", UtcDateTime(), nullable=True),
    _created_at(),
    Index(None, "key_prefix"),
    Index(None, "clinic_id"),
)

pims_credentials = Table(
    "pims_credentials",
    metadata,
    _id(),
    _clinic_fk(unique=True),
    Column("provider_type", Text(), nullable=False, server_default="idexx"),
    Column("encrypted_data", Text(), nullable=False),
    _created_at(),
    _updated_at(),
)

case_sync_audits = Table(
    "case_sync_audits",
    metadata,
    _id(),
    _clinic_fk(),
    Column("sync_type", Text(), nullable=False),
    Column("status", Text(), nullable=False, server_default="in_progress"),
    Column("appointments_found", Integer(), nullable=False, server_default="0"),
    Column("cases_created", Integer(), nullable=False, server_default="0"),
    Column("cases_updated", Integer(), nullable=False, server_default="0"),
    Column("cases_enriched", Integer(), nullable=False, server_default="0"),
    Column("cases_deleted", Integer(), nullable=False, server_default="0"),
    Column("cases_skipped", Integer(), nullable=False, server_default="0"),
    Column("cases_failed", Integer(), nullable=False, server_default="0"),
    Column("total_items", Integer(), nullable=False, server_default="0"),
    Column("processed_items", Integer(), nullable=False, server_default="0"),
    Column("progress_percentage", Integer(), nullable=False, server_default="0"),
    Column("last_progress_update", UtcDateTime(), nullable=True),
    Column("error_message", Text(), nullable=True),
    Column("parent_id", Uuid(), ForeignKey("case_sync_audits.id", ondelete="CASCADE")),
    Column("triggered_by", Text(), nullable=False, server_default="api"),
    Column("result", JsonDocument, nullable=True),
    Column("heartbeat_at", UtcDateTime(), nullable=True),
    Column("started_at", UtcDateTime(), nullable=False, server_default=NOW),
    Column("completed_at", UtcDateTime(), nullable=True),
    _created_at(),
    _updated_at(),
    Index(None, "clinic_id"),
    Index(None, "sync_type"),
    Index(None, "parent_id"),
    # Each phase's last success is one probe of this index (freshness).
    Index(None, "clinic_id", "sync_type", "completed_at"),
    # At most one top-level run in progress per clinic, across processes and machines.
    Index(
        LIVE_RUN_INDEX,
        "clinic_id",
        unique=True,
        sqlite_where=LIVE_RUN_WHERE,
        postgresql_where=LIVE_RUN_WHERE,
    ),
)

clinic_schedule_configs = Table(
    "clinic_schedule_configs",
    metadata,
    _id(),
    _clinic_fk(unique=True),
    Column("sync_schedules", JsonDocument, nullable=False, server_default=text("'[]'")),
    _created_at(),
    _updated_at(),
)

# One row per fire time of a schedule: the unique key lets exactly one process claim it.
schedule_fires = Table(
    "schedule_fires",
    metadata,
    _id(),
    _clinic_fk(),
    Column("sync_type", Text(), nullable=False),
    Column("fire_at", UtcDateTime(), nullable=False),
    Column("status", Text(), nullable=False, server_default="claimed"),
    Column("claimed_by", Text(), nullable=False),
    Column("claimed_at", UtcDateTime(), nullable=False, server_default=NOW),
    Column("reason", Text(), nullable=True),
    Column("run_id", Uuid(), nullable=True),
    Column("run_by", Text(), nullable=True),
    Column("finished_at", UtcDateTime(), nullable=True),
    _updated_at(),
    UniqueConstraint("clinic_id", "sync_type", "fire_at"),
    Index(None, "fire_at"),
    Index(None, "run_id"),
)

cases = Table(
    "cases",
    metadata,
    _id(),
    _clinic_fk(),
    Column("external_id", Text(), nullable=False),
    Column("source", Text(), nullable=False),
    Column("status", Text(), nullable=False, server_default="draft"),
    Column("type", Text(), nullable=False, server_default="checkup"),
    Column("visibility", Text(), nullable=False, server_default="private"),
    Column("scheduled_at", UtcDateTime(), nullable=True),
    Column("metadata", JsonDocument, nullable=False, server_default=text("'{}'")),
    _created_at(),
    _updated_at(),
    UniqueConstraint("clinic_id", "external_id"),
    Index(None, "clinic_id", "scheduled_at"),
)

patients = Table(
    "patients",
    metadata,
    _id(),
    Column("case_id", Uuid(), ForeignKey("cases.id", ondelete="CASCADE"), unique=True),
    _clinic_fk(),
    Column("name", Text(), nullable=True),
    Column("species", Text(), nullable=True),
    Column("breed", Text(), nullable=True),
    Column("owner_name", Text(), nullable=True),
    Column("owner_phone", Text(), nullable=True),
    Column("owner_email", Text(), nullable=True),
    _created_at(),
    _updated_at(),
    Index(None, "clinic_id"),
)

pims_session_cache = Table(
    "pims_session_cache",
    metadata,
    _id(),
    _clinic_fk(unique=True),
    Column("encrypted_cookies", Text(), nullable=False),
    _created_at(),
    Column("last_used_at", UtcDateTime(), nullable=False, server_default=NOW),
    Column("expires_at", UtcDateTime(), nullable=False),
    # A hash of (base URL, username, company id): a row of other credentials is not used.
    Column("binding", Text(), nullable=True),
)

# PIMS requests of each clinic per UTC day, summed by every process (the daily budget).
pims_request_usage = Table(
    "pims_request_usage",
    metadata,
    _id(),
    _clinic_fk(),
    Column("day", Date(), nullable=False),
    Column("requests", Integer(), nullable=False, server_default=text("0")),
    # PIMS logins of the day (the per-clinic login budget).
    Column("logins", Integer(), nullable=False, server_default=text("0")),
    _updated_at(),
    UniqueConstraint("clinic_id", "day"),
)

# The transactional outbox: one row per committed change, numbered per clinic by `seq`.
sync_events = Table(
    "sync_events",
    metadata,
    _id(),
    _clinic_fk(),
    Column("seq", BigInteger(), nullable=False),
    Column("type", Text(), nullable=False),
    Column("subject_id", Text(), nullable=True),
    Column("payload", JsonDocument, nullable=False, server_default=text("'{}'")),
    _created_at(),
    UniqueConstraint("clinic_id", "seq"),
)

# The last `seq` given to each clinic: the writer locks its row until commit, so a
# clinic's events commit in `seq` order and a reader never skips a late one.
sync_event_sequences = Table(
    "sync_event_sequences",
    metadata,
    _id(),
    _clinic_fk(unique=True),
    Column("last_seq", BigInteger(), nullable=False, server_default=text("0")),
)

# Where a clinic's events are delivered; `delivered_seq` is the endpoint's cursor.
webhook_endpoints = Table(
    "webhook_endpoints",
    metadata,
    _id(),
    _clinic_fk(),
    Column("url", Text(), nullable=False),
    Column("description", Text(), nullable=True),
    # NULL: every event type.
    Column("event_types", TextList, nullable=True),
    Column("encrypted_secret", Text(), nullable=False),
    Column("is_active", Boolean(), nullable=False, server_default=text("true")),
    Column("disabled_reason", Text(), nullable=True),
    Column("disabled_at", UtcDateTime(), nullable=True),
    Column("delivered_seq", BigInteger(), nullable=False, server_default=text("0")),
    # Failed attempts at the event after the cursor, and when to try it again.
    Column("attempt", Integer(), nullable=False, server_default=text("0")),
    Column("next_attempt_at", UtcDateTime(), nullable=True),
    Column("failing_since", UtcDateTime(), nullable=True),
    _created_at(),
    _updated_at(),
    Index(None, "clinic_id"),
)

# One row per delivery attempt: what the receiver answered, how long it took.
webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
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
    Column("duration_ms", Integer(), nullable=False, server_default=text("0")),
    Column("error", Text(), nullable=True),
    Column("attempted_at", UtcDateTime(), nullable=False, server_default=NOW),
    Index(None, "endpoint_id", "attempted_at"),
)

# Freshness and self-protection of each clinic: pause, failures in a row, the status last
# announced, and per-clinic thresholds (NULL: the service's defaults).
clinic_sync_health = Table(
    "clinic_sync_health",
    metadata,
    _id(),
    _clinic_fk(unique=True),
    Column("paused_at", UtcDateTime(), nullable=True),
    Column("paused_reason", Text(), nullable=True),
    Column("consecutive_failures", Integer(), nullable=False, server_default=text("0")),
    Column("freshness_status", Text(), nullable=True),
    Column("freshness_changed_at", UtcDateTime(), nullable=True),
    Column("inbound_threshold_seconds", Integer(), nullable=True),
    Column("cases_threshold_seconds", Integer(), nullable=True),
    Column("reconciliation_threshold_seconds", Integer(), nullable=True),
    Column("warn_after_failures", Integer(), nullable=True),
    Column("pause_after_failures", Integer(), nullable=True),
    Column("daily_login_budget", Integer(), nullable=True),
    _created_at(),
    _updated_at(),
)

# The schedule mirror: every event of the PIMS calendar inbound read (appointments, blocks,
# rosters); `deleted_at` marks one removed or cancelled in the PIMS. On Postgres the table
# also has `span` (a tstzrange of starts_at … ends_at, GiST-indexed): adapters/sql/ranges.py.
pims_appointments = Table(
    "pims_appointments",
    metadata,
    _id(),
    _clinic_fk(),
    Column("external_id", Text(), nullable=False),
    Column("kind", Text(), nullable=False),
    Column("starts_at", UtcDateTime(), nullable=False),
    Column("ends_at", UtcDateTime(), nullable=False),
    Column("resource_id", Text(), nullable=True),
    Column("room_name", Text(), nullable=True),
    Column("provider_name", Text(), nullable=True),
    Column("appointment_type", Text(), nullable=True),
    Column("status", Text(), nullable=True),
    Column("patient_name", Text(), nullable=True),
    Column("client_name", Text(), nullable=True),
    Column("sync_hash", Text(), nullable=False),
    Column("last_synced_at", UtcDateTime(), nullable=False, server_default=NOW),
    Column("deleted_at", UtcDateTime(), nullable=True),
    _created_at(),
    _updated_at(),
    UniqueConstraint("clinic_id", "external_id", "kind"),
    Index(None, "clinic_id", "starts_at"),
)

# Each clinic day whose calendar the mirror holds, and when the PIMS was last read for it
# (the mirror's age for availability).
pims_calendar_days = Table(
    "pims_calendar_days",
    metadata,
    _id(),
    _clinic_fk(),
    Column("day", Date(), nullable=False),
    Column("synced_at", UtcDateTime(), nullable=False),
    UniqueConstraint("clinic_id", "day"),
)

# A clinic's booking rules as one JSON document (domain/booking.py); none: the defaults.
clinic_booking_configs = Table(
    "clinic_booking_configs",
    metadata,
    _id(),
    _clinic_fk(unique=True),
    Column("rules", JsonDocument, nullable=False, server_default=text("'{}'")),
    _created_at(),
    _updated_at(),
)

# Short holds on free slots. `busy_from`/`busy_until` are the visit with the clinic's
# buffers around it; on Postgres an exclusion constraint keeps two unreleased holds of one
# resource from overlapping (adapters/sql/ranges.py). A hold counts until `expires_at`.
availability_holds = Table(
    "availability_holds",
    metadata,
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
    _created_at(),
    Index(None, "clinic_id", "starts_at"),
)

# Booking writes sent to the PIMS, one per clinic and Idempotency-Key (domain/write_requests.py):
# the route and a hash of its body, the `state` (`pending`, `succeeded`, `failed`, `unknown`),
# `result` (progress while pending, then the answer), `attempt` (grows at each take-over),
# `lease_until` (how long the claiming request may work before a repeat takes over).
pims_write_requests = Table(
    "pims_write_requests",
    metadata,
    _id(),
    _clinic_fk(),
    Column("idempotency_key", Text(), nullable=False),
    Column("route", Text(), nullable=False),
    Column("body_hash", Text(), nullable=False),
    Column("state", Text(), nullable=False, server_default="pending"),
    Column("attempt", Integer(), nullable=False, server_default=text("1")),
    Column("result", JsonDocument, nullable=False, server_default=text("'{}'")),
    Column("lease_until", UtcDateTime(), nullable=True),
    _created_at(),
    _updated_at(),
    UniqueConstraint("clinic_id", "idempotency_key"),
)
