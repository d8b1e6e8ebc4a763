"""Which outbox events a case write or a finished run makes (pure; no personal data).

A case write makes at most one event: `case.created` (new), `case.deleted` (the
soft-delete marker set), `case.restored` (the marker removed), `case.enriched` (notes
arrived or changed), `case.updated` (any other change), or none when nothing a consumer
could see changed (a re-sync of the same data only moves bookkeeping times).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any, Protocol
from uuid import UUID

from pims_sync.domain.case_metadata import is_soft_deleted
from pims_sync.domain.instants import iso_or_none
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger

# Written on every sync whether or not anything changed: never a change by themselves.
BOOKKEEPING_KEYS = frozenset({"syncedAt", "syncSource", "enrichedAt"})
BOOKKEEPING_SUBKEYS: Mapping[str, frozenset[str]] = {"pimsConsultation": frozenset({"fetchedAt"})}
# The documents the service writes, listed field by field; any other key (another writer's,
# whose inner keys we do not know and so could be data) is listed as a whole.
DOCUMENTS = frozenset({"pimsAppointment", "pimsConsultation", "entities"})
# The consultation's notes, as enrichment stores them.
NOTE_KEYS = ("notes", "notesHtml", "notesText", "dischargeSummary")

_ABSENT = object()


class CaseState(Protocol):
    """What the derivation reads of a case, stored or about to be written."""

    @property
    def id(self) -> UUID:
        """The case's id (a new case's as stored)."""
        ...

    @property
    def external_id(self) -> str:
        """The PIMS appointment it mirrors."""
        ...

    @property
    def source(self) -> str:
        """Where the case comes from."""
        ...

    @property
    def status(self) -> str:
        """The case's status."""
        ...

    @property
    def type(self) -> str:
        """The case's type."""
        ...

    @property
    def scheduled_at(self) -> datetime | None:
        """When the visit is."""
        ...

    @property
    def metadata(self) -> Mapping[str, Any]:
        """The case's metadata document."""
        ...


def _metadata_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    changed: list[str] = []
    # Sorted at the end: a write changes a few keys of many, so only those are sorted.
    for key in before.keys() | after.keys():
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if key in BOOKKEEPING_KEYS or old == new:
            continue
        if key in DOCUMENTS and isinstance(old, Mapping) and isinstance(new, Mapping):
            ignored = BOOKKEEPING_SUBKEYS.get(key, frozenset())
            changed += [
                f"metadata.{key}.{sub}"
                for sub in old.keys() | new.keys()
                if sub not in ignored and old.get(sub, _ABSENT) != new.get(sub, _ABSENT)
            ]
        else:
            changed.append(f"metadata.{key}")
    return sorted(changed)


def changed_fields(before: CaseState, after: CaseState) -> list[str]:
    """The names of what differs: columns (camelCase), then `metadata.…` paths, sorted."""
    columns = [
        name
        for name, old, new in (
            ("source", before.source, after.source),
            ("status", before.status, after.status),
            ("type", before.type, after.type),
            ("scheduledAt", before.scheduled_at, after.scheduled_at),
        )
        if old != new
    ]
    return columns + _metadata_changes(before.metadata, after.metadata)


def _notes(metadata: Mapping[str, Any]) -> tuple[Any, ...] | None:
    document = metadata.get("pimsConsultation")
    if not isinstance(document, Mapping):
        return None
    notes = tuple(document.get(key) for key in NOTE_KEYS)
    return notes if any(notes) else None


def _kind(before: CaseState, after: CaseState) -> EventType:
    was_deleted, is_deleted = is_soft_deleted(before.metadata), is_soft_deleted(after.metadata)
    if is_deleted and not was_deleted:
        return EventType.CASE_DELETED
    if was_deleted and not is_deleted:
        return EventType.CASE_RESTORED
    notes = _notes(after.metadata)
    if notes is not None and notes != _notes(before.metadata):
        return EventType.CASE_ENRICHED
    return EventType.CASE_UPDATED


def _case_payload(after: CaseState) -> dict[str, Any]:
    return {
        "caseId": str(after.id),
        "externalId": after.external_id,
        "scheduledAt": iso_or_none(after.scheduled_at),
        "status": after.status,
        "type": after.type,
    }


def case_event(before: CaseState | None, after: CaseState) -> NewEvent | None:
    """The event of writing `after` (with its stored id) over `before` (None: a new case)."""
    payload = _case_payload(after)
    if before is None:
        return NewEvent(EventType.CASE_CREATED, str(after.id), payload)
    changed = changed_fields(before, after)
    if not changed:
        return None
    payload["changedFields"] = changed
    return NewEvent(_kind(before, after), str(after.id), payload)


def case_events(before: Mapping[str, CaseState], writes: Sequence[CaseState]) -> list[NewEvent]:
    """The events of a batch (`before` by external id), in the writes' order."""
    found = (case_event(before.get(write.external_id), write) for write in writes)
    return [event for event in found if event is not None]


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(word.capitalize() for word in rest)


def run_event(
    *,
    run_id: UUID,
    sync_type: SyncType,
    triggered_by: Trigger,
    status: RunStatus,
    counters: RunCounters,
    error_code: str | None,
) -> NewEvent:
    """`sync.completed` or `sync.failed` for a top-level run (its error code, never its text)."""
    failed = RunStatus(status) is RunStatus.FAILED
    payload: dict[str, Any] = {
        "runId": str(run_id),
        "syncType": SyncType(sync_type).value,
        "triggeredBy": Trigger(triggered_by).value,
        "status": RunStatus(status).value,
        "counters": {_camel(name): value for name, value in _counter_items(counters)},
    }
    if failed:
        payload["errorCode"] = error_code or "unknown"
    kind = EventType.SYNC_FAILED if failed else EventType.SYNC_COMPLETED
    return NewEvent(kind, str(run_id), payload)


def _counter_items(counters: RunCounters) -> list[tuple[str, int]]:
    return [(item.name, getattr(counters, item.name)) for item in fields(counters)]
