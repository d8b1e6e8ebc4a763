"""In-memory CaseStore and RunStore with the same semantics as the SQL ones."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.domain.change_events import case_events, run_event
from pims_sync.domain.instants import utc
from pims_sync.domain.runs import RunCounters, RunRecord, RunStatus, SyncType, Trigger
from pims_sync.errors import RunInProgressError
from pims_sync.ports.store import CasePlan, CaseWrite, PatientRow, StoredCase

STALE_AFTER = timedelta(minutes=2)
ABANDONED = "abandoned"


def _json_copy(value: Mapping[str, Any]) -> dict[str, Any]:
    # A JSON round trip, as the database does: no aliasing, and non-JSON values fail here too.
    copied: dict[str, Any] = json.loads(json.dumps(value, ensure_ascii=False))
    return copied


def _utc(value: datetime | None) -> datetime | None:
    return None if value is None else utc(value)


class MemoryCaseStore:
    """Cases and their patient rows in dicts keyed by (clinic_id, external_id)."""

    def __init__(self, events: MemoryEventLog | None = None) -> None:
        self._cases: dict[tuple[UUID, str], StoredCase] = {}
        self._patients: dict[UUID, PatientRow] = {}
        # The outbox the batches append to (shared with a run store when given).
        self.events = events if events is not None else MemoryEventLog()

    async def cases_between(
        self, *, clinic_id: UUID, start: datetime, end: datetime, source_prefix: str = "pims:"
    ) -> list[StoredCase]:
        """Cases whose `scheduled_at` is in [start, end) and `source` starts with the prefix."""
        start_utc, end_utc = utc(start), utc(end)
        found = [
            case
            for (owner, _), case in self._cases.items()
            if owner == clinic_id
            and case.scheduled_at is not None
            and start_utc <= case.scheduled_at < end_utc
            and case.source.startswith(source_prefix)
        ]
        return [self._copy(case) for case in found]

    async def get_many(
        self, *, clinic_id: UUID, external_ids: Sequence[str]
    ) -> dict[str, StoredCase]:
        """The stored cases among these external ids, by external id."""
        return {
            external_id: self._copy(self._cases[(clinic_id, external_id)])
            for external_id in external_ids
            if (clinic_id, external_id) in self._cases
        }

    async def apply(
        self, *, clinic_id: UUID, external_ids: Sequence[str], plan: CasePlan
    ) -> list[CaseWrite]:
        """One atomic batch: read these cases, write what `plan` returns, return it."""
        # No await between the read and the writes: the batch is atomic in one event loop.
        stored = await self.get_many(clinic_id=clinic_id, external_ids=external_ids)
        # Duplicate external ids in one batch: the last write wins, as in SQL.
        writes = list({w.external_id: w for w in plan(stored)}.values())
        now = datetime.now(UTC)
        written: list[CaseWrite] = []
        for write in writes:
            written.append(self._upsert(clinic_id, write, now))
        self.events.append_now(clinic_id=clinic_id, events=case_events(stored, written), at=now)
        return written

    async def patient_of(self, *, clinic_id: UUID, external_id: str) -> PatientRow | None:
        """The patient row of a case (for tests)."""
        case = self._cases.get((clinic_id, external_id))
        return None if case is None else self._patients.get(case.id)

    def _upsert(self, clinic_id: UUID, write: CaseWrite, now: datetime) -> CaseWrite:
        existing = self._cases.get((clinic_id, write.external_id))
        # On conflict the stored row keeps its id, as `ON CONFLICT DO UPDATE` does.
        case_id = write.id if existing is None else existing.id
        self._cases[(clinic_id, write.external_id)] = StoredCase(
            id=case_id,
            clinic_id=clinic_id,
            external_id=write.external_id,
            source=write.source,
            status=write.status,
            type=write.type,
            scheduled_at=_utc(write.scheduled_at),
            metadata=_json_copy(write.metadata),
            updated_at=now,
        )
        if write.patient is not None:
            self._patients[case_id] = write.patient
        return write if case_id == write.id else dataclasses.replace(write, id=case_id)

    @staticmethod
    def _copy(case: StoredCase) -> StoredCase:
        return dataclasses.replace(case, metadata=_json_copy(case.metadata))


class MemoryRunStore:
    """Audit rows in a list; one live top-level run per clinic, stale ones taken over."""

    def __init__(
        self, *, stale_after: timedelta = STALE_AFTER, events: MemoryEventLog | None = None
    ) -> None:
        self._runs: dict[UUID, RunRecord] = {}
        self._stale_after = stale_after
        # The outbox a top-level run's end appends to (shared with a case store when given).
        self.events = events if events is not None else MemoryEventLog()

    @property
    def records(self) -> list[RunRecord]:
        """Every audit row, phases of full runs included (what freshness is read from)."""
        return list(self._runs.values())

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
        at = utc(at)
        if parent_id is None:
            live = await self.active(clinic_id=clinic_id)
            if live is not None:
                last_sign = live.heartbeat_at or live.started_at
                if at - last_sign <= self._stale_after:
                    raise RunInProgressError(run_id=live.id)
                self._close(
                    live.id,
                    status=RunStatus.FAILED,
                    error_code=ABANDONED,
                    at=at,
                    error_message=ABANDONED,
                    completed_at=at,
                )
        run = RunRecord(
            id=uuid4(),
            clinic_id=clinic_id,
            sync_type=SyncType(sync_type),
            status=RunStatus.IN_PROGRESS,
            triggered_by=Trigger(triggered_by),
            started_at=at,
            parent_id=parent_id,
            heartbeat_at=at,
        )
        self._runs[run.id] = run
        return run

    async def progress(
        self, *, run_id: UUID, total_items: int, processed_items: int, percentage: int, at: datetime
    ) -> None:
        """Record progress (also the run's heartbeat)."""
        self._update(
            run_id,
            total_items=total_items,
            processed_items=processed_items,
            progress_percentage=percentage,
            last_progress_update=utc(at),
            heartbeat_at=utc(at),
        )

    async def heartbeat(self, *, run_id: UUID, at: datetime) -> None:
        """Say the run is still alive."""
        self._update(run_id, heartbeat_at=utc(at))

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
        """Close the run as completed or failed; a top-level run's new status is an event."""
        self._close(
            run_id,
            status=RunStatus(status),
            error_code=error_code,
            at=at,
            counters=counters,
            error_message=error_message,
            result=None if result is None else _json_copy(result),
            completed_at=utc(at),
        )

    def _close(
        self,
        run_id: UUID,
        *,
        status: RunStatus,
        error_code: str | None,
        at: datetime,
        **changes: Any,
    ) -> None:
        before = self._runs.get(run_id)
        self._update(run_id, status=status, **changes)
        after = self._runs.get(run_id)
        if before is None or after is None or before.parent_id is not None:
            return
        if before.status is not status:
            event = run_event(
                run_id=run_id,
                sync_type=after.sync_type,
                triggered_by=after.triggered_by,
                status=status,
                counters=after.counters,
                error_code=error_code,
            )
            self.events.append_now(clinic_id=after.clinic_id, events=[event], at=at)

    async def get(self, *, clinic_id: UUID, run_id: UUID) -> RunRecord | None:
        """One run of this clinic (None for another clinic's run)."""
        run = self._runs.get(run_id)
        return run if run is not None and run.clinic_id == clinic_id else None

    async def children(self, *, clinic_id: UUID, parent_id: UUID) -> list[RunRecord]:
        """The phase rows of a full run, in start order."""
        rows = [r for r in self._runs.values() if r.clinic_id == clinic_id]
        # sorted() is stable: equal start times keep creation order.
        return sorted((r for r in rows if r.parent_id == parent_id), key=lambda r: r.started_at)

    async def active(self, *, clinic_id: UUID) -> RunRecord | None:
        """The clinic's top-level run in progress, if any."""
        for run in self._runs.values():
            if (
                run.clinic_id == clinic_id
                and run.parent_id is None
                and run.status is RunStatus.IN_PROGRESS
            ):
                return run
        return None

    async def history(
        self,
        *,
        clinic_id: UUID,
        limit: int = 20,
        sync_type: SyncType | None = None,
        status: RunStatus | None = None,
    ) -> list[RunRecord]:
        """The clinic's recent top-level runs, newest first."""
        rows = [
            r
            for r in reversed(self._runs.values())
            if r.clinic_id == clinic_id
            and r.parent_id is None
            and (sync_type is None or r.sync_type == sync_type)
            and (status is None or r.status == status)
        ]
        return sorted(rows, key=lambda r: r.started_at, reverse=True)[:limit]

    def _update(self, run_id: UUID, **changes: Any) -> None:
        run = self._runs.get(run_id)
        if run is not None:
            self._runs[run_id] = dataclasses.replace(run, **changes)
