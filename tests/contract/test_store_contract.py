"""CaseStore contract: memory, SQLite and Postgres behave the same."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.ports.store import CaseWrite, PatientRow, StoredCase
from tests.contract.store_backends import (
    T0,
    Backend,
    backend,
    database_url,
    needs_sql,
    put,
    write,
)

__all__ = ["backend", "database_url"]


# --- cases -----------------------------------------------------------------------------


async def test_apply_creates_then_updates_and_the_plan_sees_the_stored_rows(
    backend: Backend,
) -> None:
    clinic = await backend.clinic()
    first = write("a", metadata={"pimsAppointment": {"id": 1}})
    await put(backend.cases, clinic, first)
    seen: list[Mapping[str, StoredCase]] = []

    def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
        seen.append(stored)
        merged = {**stored["a"].metadata, "enrichedAt": "now"}
        return [write("a", metadata=merged, status="ongoing", case_id=stored["a"].id), write("b")]

    written = await backend.cases.apply(clinic_id=clinic, external_ids=["a", "b"], plan=plan)

    assert set(seen[0]) == {"a"}
    assert seen[0]["a"].id == first.id
    assert seen[0]["a"].metadata == {"pimsAppointment": {"id": 1}}
    assert [w.external_id for w in written] == ["a", "b"]
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a", "b", "zzz"])
    assert set(stored) == {"a", "b"}
    assert stored["a"].status == "ongoing"
    assert stored["a"].metadata == {"pimsAppointment": {"id": 1}, "enrichedAt": "now"}
    assert stored["a"].clinic_id == clinic
    assert stored["a"].updated_at is not None
    assert stored["a"].updated_at.tzinfo is not None


async def test_an_update_keeps_the_stored_id(backend: Backend) -> None:
    clinic = await backend.clinic()
    original = (await put(backend.cases, clinic, write("a")))[0]

    again = await put(backend.cases, clinic, write("a", status="completed"))

    assert again[0].id == original.id
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a"])
    assert stored["a"].id == original.id
    assert stored["a"].status == "completed"


async def test_a_failing_plan_writes_nothing(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(backend.cases, clinic, write("a", metadata={"v": 1}))

    def plan(_: Mapping[str, StoredCase]) -> list[CaseWrite]:
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        await backend.cases.apply(clinic_id=clinic, external_ids=["a"], plan=plan)
    assert await backend.cases.apply(clinic_id=clinic, external_ids=[], plan=lambda _: []) == []

    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a"])
    assert stored["a"].metadata == {"v": 1}


async def test_the_last_write_of_an_external_id_in_a_batch_wins(backend: Backend) -> None:
    clinic = await backend.clinic()

    written = await put(
        backend.cases, clinic, write("a", metadata={"v": 1}), write("a", metadata={"v": 2})
    )

    assert [w.metadata for w in written] == [{"v": 2}]
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=["a"])
    assert stored["a"].metadata == {"v": 2}


async def test_clinics_never_see_or_change_each_others_cases(backend: Backend) -> None:
    clinic_a, clinic_b = await backend.clinic(), await backend.clinic()
    await put(
        backend.cases, clinic_a, write("same", metadata={"owner": "A"}, patient=PatientRow("Rex"))
    )

    seen: list[Mapping[str, StoredCase]] = []

    def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
        seen.append(stored)
        return [write("same", metadata={"owner": "B"}, patient=PatientRow("Tom"))]

    await backend.cases.apply(clinic_id=clinic_b, external_ids=["same"], plan=plan)

    assert seen == [{}]
    a = await backend.cases.get_many(clinic_id=clinic_a, external_ids=["same"])
    b = await backend.cases.get_many(clinic_id=clinic_b, external_ids=["same"])
    assert a["same"].metadata == {"owner": "A"}
    assert b["same"].metadata == {"owner": "B"}
    assert a["same"].id != b["same"].id
    assert await backend.cases.patient_of(clinic_id=clinic_a, external_id="same") == PatientRow(
        "Rex"
    )
    assert await backend.cases.patient_of(clinic_id=clinic_b, external_id="same") == PatientRow(
        "Tom"
    )
    between_a = await backend.cases.cases_between(
        clinic_id=clinic_a, start=T0 - timedelta(days=1), end=T0 + timedelta(days=1)
    )
    assert [(c.clinic_id, c.metadata) for c in between_a] == [(clinic_a, {"owner": "A"})]


async def test_patients_are_upserted_and_none_leaves_them_alone(backend: Backend) -> None:
    clinic = await backend.clinic()
    rex = PatientRow("Rex", "canine", "Beagle", "Ann Lee", "+1 555 0100", "ann@example.com")
    await put(backend.cases, clinic, write("a", patient=rex), write("b"))
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="a") == rex
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="b") is None

    await put(backend.cases, clinic, write("a", status="ongoing"))  # patient None
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="a") == rex

    moved = PatientRow("Rex", "canine", "Beagle", "Ann Lee", None, "ann@new.example")
    await put(backend.cases, clinic, write("a", patient=moved))
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="a") == moved


async def test_metadata_round_trips_as_given(backend: Backend) -> None:
    clinic = await backend.clinic()
    metadata = {
        "pimsAppointment": {"id": "123", "patient": {"name": "Café Ñandú 🐾", "weight": 4.25}},
        "entities": {"owner": {"phones": ["+1 555 0100", None]}, "flags": [True, False]},
        "callIntelligence": {"unknown": {"deep": {"deeper": [1, {"x": "日本語"}]}}},
        "empty": {},
        "n": None,
    }

    await put(backend.cases, clinic, write("a", metadata=metadata))

    stored = (await backend.cases.get_many(clinic_id=clinic, external_ids=["a"]))["a"]
    assert stored.metadata == metadata
    assert isinstance(stored.metadata, dict)


async def test_cases_between_is_half_open_by_prefix_and_in_utc(backend: Backend) -> None:
    clinic = await backend.clinic()
    await put(
        backend.cases,
        clinic,
        write("at-start", at=T0),
        write("inside", at=T0 + timedelta(hours=5)),
        write("at-end", at=T0 + timedelta(days=1)),
        write("before", at=T0 - timedelta(microseconds=1)),
        write("unscheduled", at=None),
        write("manual", at=T0 + timedelta(hours=1), source="manual"),
        write("like", at=T0 + timedelta(hours=1), source="pimsX"),
    )
    pacific = ZoneInfo("America/Los_Angeles")

    found = await backend.cases.cases_between(
        clinic_id=clinic,
        start=T0.astimezone(pacific),
        end=(T0 + timedelta(days=1)).astimezone(pacific),
    )

    assert sorted(c.external_id for c in found) == ["at-start", "inside"]
    assert all(
        c.scheduled_at is not None and c.scheduled_at.utcoffset() == timedelta(0) for c in found
    )
    assert {c.scheduled_at for c in found} == {T0, T0 + timedelta(hours=5)}
    every = await backend.cases.cases_between(
        clinic_id=clinic, start=T0, end=T0 + timedelta(hours=2), source_prefix=""
    )
    assert sorted(c.external_id for c in every) == ["at-start", "like", "manual"]


async def test_a_batch_larger_than_the_parameter_limit(backend: Backend) -> None:
    clinic = await backend.clinic()
    ids = [f"appt-{i}" for i in range(4000)]  # 4000 × 10 parameters > SQLite's 32766
    writes = [write(i, patient=PatientRow(i)) for i in ids]

    await put(backend.cases, clinic, *writes)
    updated = await backend.cases.apply(
        clinic_id=clinic,
        external_ids=ids,
        plan=lambda stored: [write(i, metadata={**stored[i].metadata, "u": 1}) for i in ids],
    )

    assert len(updated) == 4000
    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=ids)
    assert len(stored) == 4000
    assert stored["appt-3999"].metadata == {"n": "appt-3999", "u": 1}
    assert await backend.cases.patient_of(clinic_id=clinic, external_id="appt-0") == PatientRow(
        "appt-0"
    )


# --- concurrency on the real databases (two engines: two processes) -----------------


async def test_concurrent_batches_on_the_same_cases_lose_no_metadata_key(backend: Backend) -> None:
    needs_sql(backend)
    clinic = await backend.clinic()
    ids = ["a", "b", "c"]
    await put(backend.cases, clinic, *(write(i, metadata={"pims": i}) for i in ids))
    ids.append("new")  # a case both batches create: there is no row to lock yet
    first_has_read = threading.Event()

    def merging(key: str, *, hold: bool) -> Any:
        def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
            if hold:
                first_has_read.set()
                time.sleep(0.5)  # the other writer tries to read now, and must wait
            kept = {i: stored[i].metadata if i in stored else {} for i in ids}
            return [write(i, metadata={**kept[i], key: True}) for i in ids]

        return plan

    async def in_another_process(key: str, *, hold: bool) -> None:
        engine = create_async_db_engine(backend.url)
        try:
            if not hold:
                await asyncio.to_thread(first_has_read.wait, 10)
            plan = merging(key, hold=hold)
            order = ids if hold else ids[::-1]  # locks are taken in one order whatever given
            await SqlCaseStore(engine).apply(clinic_id=clinic, external_ids=order, plan=plan)
        finally:
            await engine.dispose()

    threads = [
        threading.Thread(target=asyncio.run, args=(in_another_process(k, hold=k == "first"),))
        for k in ("first", "second")
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    stored = await backend.cases.get_many(clinic_id=clinic, external_ids=ids)
    assert {i: dict(c.metadata) for i, c in stored.items()} == {
        **{i: {"pims": i, "first": True, "second": True} for i in ids[:3]},
        "new": {"first": True, "second": True},
    }
