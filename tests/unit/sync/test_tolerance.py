"""What the pipeline does with what IDEXX may send: stays, ignored events, not-ready notes."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, time, timedelta

import pytest

from pims_sync.domain.appointments import Appointment
from pims_sync.domain.case_metadata import merge_enrichment, needs_enrichment
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.runs import SyncType
from pims_sync.errors import PimsNotReadyError, PimsRetriesExhaustedError
from pims_sync.shapes.results import stats_json
from pims_sync.sync.outcomes import FullOutcome, PhaseOutcome

from .conftest import LA, NOW, TODAY, World, appointment, consultation, make_world

STAY_START = datetime.combine(TODAY - timedelta(days=3), time(8), tzinfo=LA)


def boarding(**changes: object) -> Appointment:
    """A 4-day boarding stay that began 3 days before today."""
    return appointment(
        "40",
        day=STAY_START.date(),
        hour=8,
        end=STAY_START + timedelta(days=4),
        type_description="Boarding",
        **changes,
    )


async def phase(world: World, sync_type: SyncType, **options: object) -> PhaseOutcome:
    outcome = await world.run(sync_type, **options)
    assert isinstance(outcome, PhaseOutcome)
    return outcome


class TestStays:
    async def test_a_stay_that_began_before_the_inbound_window_gets_its_case(self) -> None:
        world = make_world(boarding(), appointment("1", hour=9))
        outcome = await phase(world, SyncType.INBOUND)  # today … today + 7
        assert outcome.success
        assert (outcome.stats.appointments_found, outcome.stats.cases_created) == (2, 2)
        case = await world.case("40")
        assert case.scheduled_at == STAY_START.astimezone(UTC)  # its true start
        assert case.metadata["pimsAppointment"]["duration"] == 4 * 24 * 60

    async def test_a_listed_stay_is_never_deleted_and_a_gone_one_only_where_it_starts(
        self,
    ) -> None:
        world = make_world(boarding(), appointment("1", hour=9))
        await phase(world, SyncType.INBOUND)
        kept = await phase(world, SyncType.RECONCILIATION, lookback_days=7)
        assert (kept.stats.cases_checked, kept.stats.cases_deleted) == (2, 0)
        del world.provider.appointments["40"]
        # The last day's feed cannot say the stay is gone: its case starts before that day.
        recent = await phase(world, SyncType.RECONCILIATION, lookback_days=1)
        assert recent.stats.cases_deleted == 0
        assert "reconciliation" not in (await world.case("40")).metadata
        gone = await phase(world, SyncType.RECONCILIATION, lookback_days=7)
        assert gone.stats.cases_deleted == 1
        assert (await world.case("40")).metadata["reconciliation"]["softDeleted"] is True

    async def test_a_full_run_reuses_inbound_calendar_with_the_stay(self) -> None:
        world = make_world(boarding(), appointment("1", day=TODAY - timedelta(days=1)))
        outcome = await world.run(SyncType.FULL, lookback_days=7, days_ahead=1)
        assert isinstance(outcome, FullOutcome)
        assert outcome.success
        assert world.provider.calls["calendar"] == 1  # reconciliation reused it
        checked = outcome.reconciliation.stats
        assert (checked.cases_checked, checked.cases_deleted) == (2, 0)
        case = await world.case("40")
        assert "reconciliation" not in case.metadata
        assert case.scheduled_at == STAY_START.astimezone(UTC)


class TestTolerated:
    async def test_ignored_events_and_coerced_fields_are_counted_and_logged(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        world = make_world(appointment("1", hour=9))
        world.provider.outside_per_fetch, world.provider.coerced_per_fetch = 2, 5
        with caplog.at_level(logging.INFO):
            inbound = await phase(world, SyncType.INBOUND)
        assert inbound.stats.events_outside_window == 2
        assert inbound.stats.fields_coerced == 5
        assert inbound.stats.cases_failed == 0  # ignored, not errors
        assert "errors" not in inbound.result().wire()
        lines = [r.getMessage() for r in caplog.records if "calendar tolerated" in r.message]
        assert lines == [
            "calendar tolerated: 2 event(s) outside the window ignored, 5 field(s) coerced"
        ]
        alone = await phase(world, SyncType.RECONCILIATION, lookback_days=1)
        assert (alone.stats.events_outside_window, alone.stats.fields_coerced) == (2, 5)

    async def test_a_chunked_window_adds_the_counts_of_its_fetches(self) -> None:
        world = make_world(appointment("1", hour=9))
        world.provider.outside_per_fetch = 1
        outcome = await phase(world, SyncType.INBOUND, days_ahead=40)  # two 31-day chunks
        assert outcome.stats.events_outside_window == 2

    async def test_a_full_run_counts_once_when_reconciliation_reuses_the_calendar(self) -> None:
        world = make_world(appointment("1", hour=9))
        world.provider.outside_per_fetch = 3
        outcome = await world.run(SyncType.FULL, lookback_days=1, days_ahead=1)
        assert isinstance(outcome, FullOutcome)
        assert outcome.inbound.stats.events_outside_window == 3
        assert outcome.reconciliation.stats.events_outside_window == 0


class TestNotReady:
    async def test_a_refused_consultation_is_skipped_and_fetched_next_run(
        self, caplog: pytest.LogCaptureFixture
    ) -> None:
        world = make_world(
            appointment("1", hour=9, consultation_id="c1"), consultations=(consultation("c1"),)
        )
        await phase(world, SyncType.INBOUND)
        world.provider.fail_next("consultation", PimsNotReadyError("not available yet"))
        with caplog.at_level(logging.INFO):
            first = await phase(world, SyncType.CASES)
        assert first.success
        assert stats_json(first.stats) == {
            "casesFound": 1,
            "casesEnriched": 0,
            "casesSkipped": 1,
            "casesFailed": 0,
            "consultationsNotReady": 1,
        }
        assert "errors" not in first.result().wire()
        assert any("1 consultation(s) not available yet" in r.message for r in caplog.records)
        assert "pimsConsultation" not in (await world.case("1")).metadata
        second = await phase(world, SyncType.CASES)
        assert (second.stats.cases_found, second.stats.cases_enriched) == (1, 1)
        assert second.stats.consultations_not_ready == 0

    async def test_every_consultation_not_ready_is_no_failure_of_the_run(self) -> None:
        world = make_world(
            appointment("1", hour=9, consultation_id="c1"),
            appointment("2", hour=10, consultation_id="c2"),
        )
        await phase(world, SyncType.INBOUND)
        world.provider.fail_next("consultation", PimsNotReadyError("no"), times=2)
        outcome = await phase(world, SyncType.CASES)
        assert outcome.success
        assert (outcome.stats.cases_skipped, outcome.stats.consultations_not_ready) == (2, 2)

    async def test_not_ready_ones_do_not_hide_a_failure_among_them(self) -> None:
        world = make_world(
            appointment("1", hour=9, consultation_id="c1"),
            appointment("2", hour=10, consultation_id="c2"),
            consultations=(consultation("c2"),),
        )
        await phase(world, SyncType.INBOUND)
        world.provider.fail_next("consultation", PimsRetriesExhaustedError("down"), times=1)
        outcome = await phase(world, SyncType.CASES, parallel_batch_size=1)
        assert outcome.success  # c1 failed, c2 enriched: one item, not the PIMS
        assert (outcome.stats.cases_failed, outcome.stats.cases_enriched) == (1, 1)


def test_discharge_only_notes_are_notes_and_are_kept_in_the_case() -> None:
    discharge_only = Consultation(
        id="c1", status="completed", discharge_summary="<p>Rest</p>", notes_text="Rest"
    )
    stored = {"pimsAppointment": {"consultationId": "c1"}}
    merged = merge_enrichment(stored, discharge_only, now=NOW)
    assert merged["dischargeSummary"] == "<p>Rest</p>"
    document = merged["pimsConsultation"]
    assert (document["dischargeSummary"], document["notesText"]) == ("<p>Rest</p>", "Rest")
    assert document["isFinal"] is True
    assert "clinicalNotes" not in merged["entities"]["clinical"]  # none were written
    assert not needs_enrichment(merged, scheduled_at=NOW - timedelta(hours=1), now=NOW)
    assert needs_enrichment(stored, scheduled_at=NOW - timedelta(days=30), now=NOW)
