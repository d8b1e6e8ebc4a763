"""Runs: one execution of a phase or a full sync, as its audit row records it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID


class SyncType(StrEnum):
    """What a run does (the audit row's `sync_type`)."""

    INBOUND = "inbound"
    CASES = "cases"
    RECONCILIATION = "reconciliation"
    FULL = "full"


class RunStatus(StrEnum):
    """Where a run stands; a run never stays `in_progress` after it ends."""

    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"


class Trigger(StrEnum):
    """Who started a run."""

    API = "api"
    SCHEDULER = "scheduler"
    CLI = "cli"


@dataclass(frozen=True, slots=True)
class RunCounters:
    """The audit row's counters (each phase fills the ones it knows)."""

    appointments_found: int = 0
    cases_created: int = 0
    cases_updated: int = 0
    cases_enriched: int = 0
    cases_deleted: int = 0
    cases_skipped: int = 0
    cases_failed: int = 0


@dataclass(frozen=True, slots=True)
class RunRecord:
    """An audit row of `case_sync_audits`."""

    id: UUID
    clinic_id: UUID
    sync_type: SyncType
    status: RunStatus
    triggered_by: Trigger
    started_at: datetime
    parent_id: UUID | None = None
    completed_at: datetime | None = None
    error_message: str | None = None
    counters: RunCounters = field(default_factory=RunCounters)
    total_items: int = 0
    processed_items: int = 0
    progress_percentage: int = 0
    last_progress_update: datetime | None = None
    heartbeat_at: datetime | None = None
    result: dict[str, Any] | None = None

    @property
    def finished(self) -> bool:
        """Whether the run has ended, well or not."""
        return self.status is not RunStatus.IN_PROGRESS
