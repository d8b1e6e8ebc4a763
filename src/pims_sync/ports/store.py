"""Store ports: cases (with their patient rows) and runs (audit rows), tenant-scoped."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger


@dataclass(frozen=True, slots=True)
class PatientRow:
    """The `patients` row kept beside a case."""

    name: str | None = None
    species: str | None = None
    breed: str | None = None
    owner_name: str | None = None
    owner_phone: str | None = None
    owner_email: str | None = None


@dataclass(frozen=True, slots=True)
class StoredCase:
    """A case as stored (soft-deleted ones included: their marker is in `metadata`)."""

    id: UUID
    clinic_id: UUID
    external_id: str
    source: str
    status: str
    type: str
    scheduled_at: datetime | None
    metadata: Mapping[str, Any]
    updated_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class CaseWrite:
    """What to store for one case: the whole row (metadata already merged)."""

    id: UUID
    external_id: str
    source: str
    status: str
    type: str
    scheduled_at: datetime | None
    metadata: Mapping[str, Any]
    patient: PatientRow | None = None


# Given the stored cases of a batch (by external id; absent = new), what to write.
CasePlan = Callable[[Mapping[str, StoredCase]], Sequence[CaseWrite]]


class CaseStore(Protocol):
    """Cases of one clinic at a time; every method is scoped by `clinic_id`."""

    async def cases_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime, source_prefix: str = "pims:"
    ) -> list[StoredCase]:
        """Cases whose `scheduled_at` is in [start, end) and `source` starts with the prefix."""
        ...

    async def get_many(
        self, *, clinic_id: UUID, external_ids: Sequence[str]
    ) -> dict[str, StoredCase]:
        """The stored cases among these external ids, by external id."""
        ...

    async def apply(
        self, *, clinic_id: UUID, external_ids: Sequence[str], plan: CasePlan
    ) -> list[CaseWrite]:
        """One atomic batch: lock and read these cases, write what `plan` returns, return it.

        Writes are upserts on (clinic_id, external_id) in one statement per table, so
        a batch costs a fixed number of round trips whatever its size; a concurrent
        writer of the same cases waits for the batch (no lost metadata keys). The
        batch's outbox events (`domain/change_events.py`: one per case whose visible
        state changed) are appended in the same transaction.
        """
        ...


class RunStore(Protocol):
    """Audit rows of runs; a clinic has at most one top-level run in progress."""

    async def start(
        self,
        *,
        clinic_id: UUID,
        sync_type: SyncType,
        triggered_by: Trigger,
        parent_id: UUID | None = None,
        at: datetime,
    ) -> RunRecord:
        """Create an `in_progress` row; `RunInProgressError` if the clinic has a live one."""
        ...

    async def progress(
        self, *, run_id: UUID, total_items: int, processed_items: int, percentage: int, at: datetime
    ) -> None:
        """Record progress (also the run's heartbeat)."""
        ...

    async def heartbeat(self, *, run_id: UUID, at: datetime) -> None:
        """Say the run is still alive (a live run's heartbeat keeps others from taking over)."""
        ...

    async def finish(
        self,
        *,
        run_id: UUID,
        status: RunStatus,
        counters: RunCounters,
        error_message: str | None,
        result: Mapping[str, Any] | None,
        at: datetime,
        error_code: str | None = None,
    ) -> None:
        """Close the run as completed or failed, with its counters and result.

        A top-level run whose status changes gets its `sync.completed` or `sync.failed`
        event (with `error_code`) in the same transaction; phase rows get none.
        """
        ...

    async def get(self, *, clinic_id: UUID, run_id: UUID) -> RunRecord | None:
        """One run of this clinic (None for another clinic's run)."""
        ...

    async def children(self, *, clinic_id: UUID, parent_id: UUID) -> list[RunRecord]:
        """The phase rows of a full run, in start order."""
        ...

    async def active(self, *, clinic_id: UUID) -> RunRecord | None:
        """The clinic's top-level run in progress, if any."""
        ...

    async def history(
        self,
        *,
        clinic_id: UUID,
        limit: int = 20,
        sync_type: SyncType | None = None,
        status: RunStatus | None = None,
    ) -> list[RunRecord]:
        """The clinic's recent top-level runs, newest first."""
        ...
