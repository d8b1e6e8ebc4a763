"""Freshness rules (pure): thresholds from the schedules' longest gaps, the status's order."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.domain.freshness import (
    Freshness,
    HealthFacts,
    assess,
    duration,
    schedule_thresholds,
    thresholds_for,
)
from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import SyncSchedule, longest_interval, parse_schedules

NOW = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
CLINIC = uuid.UUID(int=7)
HOUR, DAY = 3600, 86_400


@pytest.mark.parametrize(
    ("cron", "seconds"),
    [
        ("*/15 * * * *", 15 * 60),
        ("0 6 * * *", DAY),
        ("0 6,12 * * *", 18 * HOUR),  # the night, not the 6 h between the two
        ("0 6 * * 1-5", 3 * DAY),  # Friday to Monday
        ("*/5 7-18 * * 1-5", 60 * HOUR + 5 * 60),  # Friday 18:55 to Monday 07:00
        ("30 */10 * * * *", 10 * 60),  # a seconds field
        ("0 0 1 * *", 31 * DAY),  # the longest month
        ("0 9 1,15 * *", 17 * DAY),  # the 15th of a 31-day month to the next 1st
        ("0 0 29 2 *", 1461 * DAY),  # leap days only
        ("0 0 * * 0", 7 * DAY),
    ],
)
def test_the_longest_gap_between_fire_times(cron: str, seconds: int) -> None:
    assert longest_interval(cron) == timedelta(seconds=seconds)


def test_a_cron_that_never_fires_has_no_interval() -> None:
    assert longest_interval("0 0 30 2 *") is None


def _schedules(*entries: dict[str, object]) -> tuple[SyncSchedule, ...]:
    return parse_schedules(list(entries)).schedules


def test_thresholds_are_two_and_a_half_gaps_of_the_most_frequent_schedule() -> None:
    schedules = _schedules(
        {"type": "inbound", "cron": "*/15 * * * *"},
        {"type": "full", "cron": "0 2 * * *"},  # runs all three phases
        {"type": "cases", "cron": "0 6,18 * * *", "enabled": False},  # disabled: ignored
    )
    assert schedule_thresholds(schedules) == {
        SyncType.INBOUND: 2250,  # the 15 minutes beat the full run's day
        SyncType.CASES: 216_000,
        SyncType.RECONCILIATION: 216_000,
    }


def test_a_phase_no_schedule_runs_gets_150_minutes() -> None:
    schedules = _schedules({"type": "inbound", "cron": "0 * * * *"})
    assert schedule_thresholds(schedules) == {
        SyncType.INBOUND: 9000,
        SyncType.CASES: 9000,
        SyncType.RECONCILIATION: 9000,
    }
    assert schedule_thresholds(()) == dict.fromkeys(
        (SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILIATION), 9000
    )


def test_the_clinic_own_threshold_wins() -> None:
    schedules = _schedules({"type": "full", "cron": "0 6 * * *"})
    found = thresholds_for(schedules, {SyncType.CASES: 600, SyncType.INBOUND: None})
    assert found == {
        SyncType.INBOUND: 216_000,
        SyncType.CASES: 600,
        SyncType.RECONCILIATION: 216_000,
    }


def _facts(age_minutes: tuple[int | None, int | None, int | None], **kwargs: object) -> HealthFacts:
    phases = (SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILIATION)
    last = {
        phase: None if age is None else NOW - timedelta(minutes=age)
        for phase, age in zip(phases, age_minutes, strict=True)
    }
    return HealthFacts(
        clinic_id=CLINIC,
        last_success=last,
        thresholds=dict.fromkeys(phases, 9000),
        **kwargs,  # type: ignore[arg-type]
    )


def test_fresh_when_every_phase_is_within_its_threshold() -> None:
    found = assess(_facts((10, 150, 20)), NOW)
    assert found.status is Freshness.FRESH
    assert found.reason is None
    assert found.phase(SyncType.CASES).age_seconds == 9000  # at the threshold: still fresh


def test_stale_names_each_stale_phase() -> None:
    found = assess(_facts((10, 151, None)), NOW)
    assert found.status is Freshness.STALE
    assert found.reason == (
        "cases last succeeded 2 h 31 min ago (threshold 2 h 30 min); "
        "reconciliation has never succeeded"
    )


def test_failing_beats_stale_and_paused_beats_failing() -> None:
    failing = assess(_facts((10, None, None), consecutive_failures=3), NOW)
    assert (failing.status, failing.reason) == (Freshness.FAILING, "the last 3 runs failed")
    one = assess(_facts((10, 10, 10), consecutive_failures=1), NOW)
    assert (one.status, one.reason) == (Freshness.FAILING, "the last run failed")
    paused = assess(
        _facts((10, 10, 10), consecutive_failures=3, paused_at=NOW, paused_reason="by hand"), NOW
    )
    assert (paused.status, paused.reason, paused.paused_at) == (Freshness.PAUSED, "by hand", NOW)


def test_a_success_in_the_future_is_age_zero() -> None:
    found = assess(_facts((-5, 1, 1)), NOW)
    assert found.phase(SyncType.INBOUND).age_seconds == 0


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0 s"), (45, "45 s"), (9000, "2 h 30 min"), (7230, "2 h"), (90_061, "1 d 1 h")],
)
def test_durations_in_words(seconds: int, text: str) -> None:
    assert duration(seconds) == text
