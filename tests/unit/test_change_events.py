"""Which event a case write or a finished run makes: examples, then properties (hypothesis)."""

from __future__ import annotations

import itertools
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from pims_sync.domain.case_metadata import restore, soft_delete
from pims_sync.domain.change_events import case_event, case_events, changed_fields, run_event
from pims_sync.domain.outbox import EventType
from pims_sync.domain.runs import RunCounters, RunStatus, SyncType, Trigger

T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)
CASE_ID = uuid.UUID(int=7)
# Personal data the metadata carries; an event must never repeat any of it.
PERSONAL = ("Bella Smith", "+1 555 0100", "ana@example.com", "ate a sock")


@dataclass(frozen=True)
class Case:
    """A case state (what StoredCase and CaseWrite both offer)."""

    id: uuid.UUID = CASE_ID
    external_id: str = "pims-appt-idexx-neo-1"
    source: str = "pims:idexx-neo"
    status: str = "draft"
    type: str = "checkup"
    scheduled_at: datetime | None = T0
    metadata: dict[str, Any] = field(default_factory=dict)


APPOINTMENT = {"id": "1", "status": "Scheduled", "client": {"name": "Bella Smith"}}
BASE = Case(metadata={"pimsAppointment": APPOINTMENT, "syncedAt": "t0", "syncSource": "IDEXX"})


def _with(case: Case, **metadata: Any) -> Case:
    return replace(case, metadata=case.metadata | metadata)


# --- examples --------------------------------------------------------------------------


def test_a_new_case_is_created_with_ids_and_visit_facts_only() -> None:
    event = case_event(None, BASE)
    assert event is not None
    assert (event.type, event.subject_id) == (EventType.CASE_CREATED, str(CASE_ID))
    assert event.payload == {
        "caseId": str(CASE_ID),
        "externalId": "pims-appt-idexx-neo-1",
        "scheduledAt": "2026-06-01T09:00:00.000Z",
        "status": "draft",
        "type": "checkup",
    }


def test_bookkeeping_alone_is_no_change() -> None:
    again = _with(BASE, syncedAt="t1", syncSource="IDEXX", enrichedAt="t1")
    assert case_event(BASE, again) is None
    fetched = _with(BASE, pimsConsultation={"id": "C1", "fetchedAt": "t0"})
    refetched = _with(BASE, pimsConsultation={"id": "C1", "fetchedAt": "t1"})
    assert case_event(fetched, refetched) is None


def test_changed_fields_name_columns_then_metadata_paths() -> None:
    moved = replace(
        _with(BASE, pimsAppointment=APPOINTMENT | {"status": "Checked In"}, other={"x": 1}),
        status="ongoing",
        scheduled_at=T0 + timedelta(hours=1),
    )
    assert changed_fields(BASE, moved) == [
        "status",
        "scheduledAt",
        "metadata.other",
        "metadata.pimsAppointment.status",
    ]
    event = case_event(BASE, moved)
    assert event is not None
    assert event.type is EventType.CASE_UPDATED


def test_unknown_documents_are_named_whole_never_by_their_inner_keys() -> None:
    # Another writer's keys could be data (a name used as a key): only the top key shows.
    after = _with(BASE, callIntelligence={"Bella Smith": "called"})
    assert changed_fields(BASE, after) == ["metadata.callIntelligence"]


def test_notes_arriving_or_changing_enrich_other_consultation_changes_update() -> None:
    notes = {"id": "C1", "notesText": "ate a sock", "status": "draft"}
    enriched = _with(BASE, pimsConsultation=notes)
    event = case_event(BASE, enriched)
    assert event is not None
    assert event.type is EventType.CASE_ENRICHED
    changed = _with(BASE, pimsConsultation=notes | {"notesText": "ate two socks"})
    event = case_event(enriched, changed)
    assert event is not None
    assert event.type is EventType.CASE_ENRICHED
    final = _with(BASE, pimsConsultation=notes | {"status": "final"})
    event = case_event(enriched, final)
    assert event is not None
    assert event.type is EventType.CASE_UPDATED
    assert event.payload["changedFields"] == ["metadata.pimsConsultation.status"]


def test_the_soft_delete_marker_deletes_and_its_removal_restores() -> None:
    marked = soft_delete(BASE.metadata, previous_status="draft", sync_id="r1", at=T0)
    deleted = replace(BASE, status="reviewed", metadata=marked)
    event = case_event(BASE, deleted)
    assert event is not None
    assert event.type is EventType.CASE_DELETED
    unmarked, status = restore(marked, fallback_status="reviewed")
    event = case_event(deleted, replace(BASE, status=status, metadata=unmarked))
    assert event is not None
    assert event.type is EventType.CASE_RESTORED
    assert event.payload["changedFields"] == ["status", "metadata.reconciliation"]


def test_a_batch_keeps_the_writes_order_and_skips_the_unchanged() -> None:
    a, b, c = (replace(BASE, external_id=x, id=uuid.uuid4()) for x in "abc")
    events = case_events({"b": b, "c": c}, [a, b, replace(c, status="ongoing")])
    assert [(e.type, e.payload["externalId"]) for e in events] == [
        (EventType.CASE_CREATED, "a"),
        (EventType.CASE_UPDATED, "c"),
    ]


def test_a_run_says_its_counters_and_code_never_its_message() -> None:
    run_id = uuid.uuid4()
    done = run_event(
        run_id=run_id,
        sync_type=SyncType.FULL,
        triggered_by=Trigger.SCHEDULER,
        status=RunStatus.COMPLETED,
        counters=RunCounters(cases_created=2),
        error_code=None,
    )
    assert (done.type, done.subject_id) == (EventType.SYNC_COMPLETED, str(run_id))
    assert done.payload["counters"]["casesCreated"] == 2
    assert "errorCode" not in done.payload
    failed = run_event(
        run_id=run_id,
        sync_type=SyncType.INBOUND,
        triggered_by=Trigger.API,
        status=RunStatus.FAILED,
        counters=RunCounters(),
        error_code=None,
    )
    assert failed.type is EventType.SYNC_FAILED
    assert failed.payload["errorCode"] == "unknown"


# --- properties ------------------------------------------------------------------------

BOOKKEEPING = {"syncedAt", "syncSource", "enrichedAt"}
small_text = st.sampled_from(["a", "b", *PERSONAL])
documents = st.dictionaries(
    st.sampled_from(["id", "status", "notes", "notesText", "fetchedAt", "client", "room"]),
    small_text,
    max_size=4,
)
metadata = st.fixed_dictionaries(
    {},
    optional={
        "pimsAppointment": documents,
        "pimsConsultation": documents,
        "entities": documents,
        "syncedAt": small_text,
        "enrichedAt": small_text,
        "dischargeSummary": small_text,
        "callIntelligence": documents,
        "reconciliation": st.just({"softDeleted": True, "reason": "removed_from_pims"}),
    },
)
cases = st.builds(
    Case,
    status=st.sampled_from(["draft", "ongoing", "reviewed"]),
    type=st.sampled_from(["checkup", "surgery"]),
    scheduled_at=st.sampled_from([None, T0, T0 + timedelta(hours=1)]),
    metadata=metadata,
)


def _visible(case: Case) -> tuple[Any, ...]:
    """What a consumer can see, computed independently of the code under test."""
    shown = {k: v for k, v in case.metadata.items() if k not in BOOKKEEPING}
    consultation = shown.get("pimsConsultation")
    if isinstance(consultation, dict):
        shown["pimsConsultation"] = {k: v for k, v in consultation.items() if k != "fetchedAt"}
    return (
        case.source,
        case.status,
        case.type,
        case.scheduled_at,
        json.dumps(shown, sort_keys=True),
    )


def _resolve(case: Case, name: str) -> Any:
    columns = {"source": case.source, "status": case.status, "type": case.type}
    if name in columns or name == "scheduledAt":
        return columns.get(name, case.scheduled_at)
    value: Any = case.metadata
    for part in name.split(".")[1:]:
        value = value.get(part, "<absent>") if isinstance(value, dict) else "<absent>"
    return value


@settings(max_examples=400)
@given(before=cases, after=cases)
def test_an_event_exactly_when_something_visible_changed(before: Case, after: Case) -> None:
    event = case_event(before, after)
    assert (event is None) == (_visible(before) == _visible(after))
    assert case_event(after, after) is None
    if event is None:
        return
    changed = event.payload["changedFields"]
    assert changed
    assert len(set(changed)) == len(changed)
    assert all(_resolve(before, name) != _resolve(after, name) for name in changed)
    deleted = ("reconciliation" in before.metadata, "reconciliation" in after.metadata)
    if deleted == (False, True):
        assert event.type is EventType.CASE_DELETED
    elif deleted == (True, False):
        assert event.type is EventType.CASE_RESTORED
    else:
        assert event.type in (EventType.CASE_ENRICHED, EventType.CASE_UPDATED)


@settings(max_examples=300)
@given(before=st.none() | cases, after=cases)
def test_no_event_carries_personal_data(before: Case | None, after: Case) -> None:
    event = case_event(before, after)
    text = json.dumps(event.payload) if event is not None else ""
    assert not any(secret in text for secret in PERSONAL)
    if event is not None:
        allowed = {"caseId", "externalId", "scheduledAt", "status", "type", "changedFields"}
        assert set(event.payload) <= allowed


@settings(max_examples=200)
@given(history=st.lists(cases, min_size=1, max_size=8))
def test_a_history_of_writes_has_one_event_per_visible_change(history: list[Case]) -> None:
    events = [case_event(None, history[0])]
    events += [case_event(old, new) for old, new in itertools.pairwise(history)]
    changes = sum(1 for old, new in itertools.pairwise(history) if _visible(old) != _visible(new))
    found = [e for e in events if e is not None]
    assert len(found) == 1 + changes
    assert found[0].type is EventType.CASE_CREATED
    assert all(e.type is not EventType.CASE_CREATED for e in found[1:])
