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
NOTHING: frozenset[str] = frozenset()


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


def _document_changes(key: str, old: Mapping[str, Any], new: Mapping[str, Any]) -> list[str]:
    """The paths of what differs inside one of the service's documents."""
    ignored = BOOKKEEPING_SUBKEYS.get(key, NOTHING)
    # One lookup per key (this runs for every case of every batch): changed or added
    # keys from `new`, then keys only `old` has.
    subs = [sub for sub, value in new.items() if old.get(sub, _ABSENT) != value]
    subs += [sub for sub in old if sub not in new]
    return [f"metadata.{key}.{sub}" for sub in subs if sub not in ignored]


def _metadata_changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[str]:
    changed: list[str] = []
    keys = [key for key, value in after.items() if before.get(key, _ABSENT) != value]
    keys += [key for key in before if key not in after]
    for key in keys:
        if key in BOOKKEEPING_KEYS:
            continue
        old, new = before.get(key, _ABSENT), after.get(key, _ABSENT)
        if key in DOCUMENTS and isinstance(old, Mapping) and isinstance(new, Mapping):
            changed += _document_changes(key, old, new)
        else:
            changed.append(f"metadata.{key}")
    # Sorted at the end: a write changes a few keys of many, so only those are sorted.
    return sorted(changed)


def changed_fields(before: CaseState, after: CaseState) -> list[str]:
    """The names of what differs: columns (camelCase), then `metadata.…` paths, sorted."""
    changed = _metadata_changes(before.metadata, after.metadata)
    if before.scheduled_at != after.scheduled_at:
        changed.insert(0, "scheduledAt")
    if before.type != after.type:
        changed.insert(0, "type")
    if before.status != after.status:
        changed.insert(0, "status")
    if before.source != after.source:
        changed.insert(0, "source")
    return changed


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
    if before is None:
        payload = _case_payload(after)
        return NewEvent(EventType.CASE_CREATED, payload["caseId"], payload)
    changed = changed_fields(before, after)
    if not changed:
        return None  # the common re-sync: no payload built
    payload = _case_payload(after)
    payload["changedFields"] = changed
    return NewEvent(_kind(before, after), payload["caseId"], payload)


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
