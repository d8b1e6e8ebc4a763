"""Cases (enrichment): candidates, late notes, not found, per-item and session failures."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from pims_sync.adapters.memory import provider as fake
from pims_sync.domain.runs import SyncType
from pims_sync.errors import PimsAuthError, PimsRetriesExhaustedError
from pims_sync.sync.outcomes import PhaseOutcome

from .conftest import TODAY, World, appointment, consultation, make_world


async def enrich(world: World, **options: object) -> PhaseOutcome:
    outcome = await world.run(SyncType.CASES, **options)
    assert isinstance(outcome, PhaseOutcome)
    return outcome


def clinic_with_visits() -> World:
    return make_world(
        appointment("1", hour=9, consultation_id="c1"),
        appointment("2", hour=10, consultation_id="c2"),
        appointment("3", hour=11),  # no consultation
        appointment("4", day=TODAY + timedelta(days=1), consultation_id="c4"),  # future
        consultations=(consultation("c1"), consultation("c2", status="In progress", notes="draft")),
    )


async def test_enriches_past_cases_with_a_consultation() -> None:
    world = clinic_with_visits()
    await world.run(SyncType.INBOUND)
    result = (await enrich(world)).result().wire()
    assert result["stats"] == {
        "casesFound": 2,
        "casesEnriched": 2,
        "casesSkipped": 0,
        "casesFailed": 0,
        "consultationsNotReady": 0,
    }
    metadata = (await world.case("1")).metadata
    document = metadata["pimsConsultation"]
    assert (document["id"], document["isFinal"], document["notesText"]) == ("c1", True, "Ok")
    assert document["productsServices"] == "Exam"
    assert document["declinedProductsServices"] == "X-ray"
    assert metadata["dischargeSummary"] == "Rest"
    assert metadata["entities"]["clinical"]["productsServicesDeclined"] == ["X-ray"]
    assert metadata["entities"]["clinical"]["visitReason"] == "Limping"
    assert metadata["entities"]["patient"]["name"] == "Rex 1"  # inbound's entities kept
    assert "enrichedAt" in metadata


async def test_late_notes_are_picked_up_by_the_next_run() -> None:
    world = clinic_with_visits()
    await world.run(SyncType.INBOUND)
    await enrich(world)
    world.provider.consultations["c2"] = consultation("c2", notes="final notes")
    world.clock.at += timedelta(hours=3)
    outcome = await enrich(world)
    assert outcome.stats.cases_found == 1  # only the non-final one is fetched again
    assert (await world.case("2")).metadata["pimsConsultation"]["notes"] == "final notes"
    assert (await enrich(world)).stats.cases_found == 0


async def test_non_final_notes_are_not_waited_for_after_72_hours() -> None:
    world = clinic_with_visits()
    await world.run(SyncType.INBOUND)
    await enrich(world)
    world.clock.at += timedelta(hours=80)
    stats = (await enrich(world, start_date=TODAY - timedelta(days=5))).stats
    # Only case 4, now past and never enriched (its consultation does not exist yet).
    assert (stats.cases_found, stats.cases_skipped) == (1, 1)
    assert (await world.case("2")).metadata["pimsConsultation"]["notes"] == "draft"


async def test_not_found_is_skipped_and_other_failures_are_listed() -> None:
    world = make_world(
        appointment("1", hour=9, consultation_id="c1"),
        appointment("2", hour=10, consultation_id="missing"),
        appointment("3", hour=11, consultation_id="c3"),
        consultations=(consultation("c1"), consultation("c3")),
    )
    await world.run(SyncType.INBOUND)
    world.provider.fail_next("consultation", PimsRetriesExhaustedError("still failing"), times=1)
    result = (await enrich(world, parallel_batch_size=1)).result().wire()
    assert result["success"] is True
    assert result["stats"] == {
        "casesFound": 3,
        "casesEnriched": 1,
        "casesSkipped": 1,
        "casesFailed": 1,
        "consultationsNotReady": 1,  # not found: not available yet, asked again next run
    }
    assert len(result["errors"]) == 1
    assert "Rex" not in str(result["errors"])


async def test_every_fetch_failing_fails_the_phase() -> None:
    world = clinic_with_visits()
    await world.run(SyncType.INBOUND)
    world.provider.fail_next("consultation", PimsRetriesExhaustedError("down"), times=2)
    with pytest.raises(PimsRetriesExhaustedError):
        await enrich(world)


async def test_auth_failure_stops_the_phase() -> None:
    world = clinic_with_visits()
    await world.run(SyncType.INBOUND)
    world.provider.fail_next("consultation", PimsAuthError("expired"), times=1)
    with pytest.raises(PimsAuthError):
        await enrich(world, parallel_batch_size=1)


async def test_parallel_fetches_are_bounded() -> None:
    world = make_world(
        *(appointment(str(i), hour=9, consultation_id=f"c{i}") for i in range(12)),
        consultations=tuple(consultation(f"c{i}") for i in range(12)),
    )
    await world.run(SyncType.INBOUND)
    original = dict(world.provider.consultations)
    in_flight = peak = 0

    async def fetch_consultation(self, consultation_id: str):  # type: ignore[no-untyped-def]
        nonlocal in_flight, peak
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.001)
        in_flight -= 1
        return original[consultation_id]

    patch = pytest.MonkeyPatch()
    patch.setattr(fake.FakeSession, "fetch_consultation", fetch_consultation)
    try:
        assert (await enrich(world, parallel_batch_size=3)).stats.cases_enriched == 12
    finally:
        patch.undo()
    assert peak == 3


async def test_the_pims_going_away_mid_phase_stops_it_and_keeps_what_was_fetched() -> None:
    world = make_world(
        *(appointment(str(i), hour=9, consultation_id=f"c{i}") for i in range(10)),
        consultations=tuple(consultation(f"c{i}") for i in range(10)),
    )
    await world.run(SyncType.INBOUND)
    original = dict(world.provider.consultations)
    fetched: list[str] = []

    async def fetch_consultation(self, consultation_id: str):  # type: ignore[no-untyped-def]
        fetched.append(consultation_id)
        if len(fetched) > 2:  # the PIMS dies after two answers
            raise PimsRetriesExhaustedError("IDEXX Neo page-data still failing")
        return original[consultation_id]

    patch = pytest.MonkeyPatch()
    patch.setattr(fake.FakeSession, "fetch_consultation", fetch_consultation)
    try:
        with pytest.raises(PimsRetriesExhaustedError):
            await enrich(world, parallel_batch_size=1)
    finally:
        patch.undo()
    # Three failures in a row mean an outage: the other five are not even tried.
    assert len(fetched) == 2 + 3
    cases = [await world.case(str(i)) for i in range(10)]
    assert sum("pimsConsultation" in c.metadata for c in cases) == 2
