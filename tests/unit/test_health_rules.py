"""Self-protection rules (pure): failures in a row, warnings, pauses, resumes, their events."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from pims_sync.domain.freshness import Freshness, HealthFacts, assess
from pims_sync.domain.health import (
    ClinicHealth,
    HealthSettings,
    Limit,
    PauseKind,
    PauseReason,
    RunEnd,
    after_run,
    announcement,
    check_limit,
    paused_now,
    resumed,
)
from pims_sync.domain.outbox import EventType
from pims_sync.domain.runs import SyncType
from pims_sync.errors import InvalidInputError

AT = datetime(2026, 6, 10, 12, 0, tzinfo=UTC)
CLINIC = uuid.UUID(int=9)
DOWN = RunEnd(success=False, code="pims_unavailable", run_id=uuid.UUID(int=1))


def _types(events: list) -> list[EventType]:  # type: ignore[type-arg]
    return [event.type for event in events]


def test_warn_and_pause_follow_the_clinic_limits() -> None:
    health = ClinicHealth(
        CLINIC, settings=HealthSettings(warn_after_failures=2, pause_after_failures=3)
    )
    seen = []
    for _ in range(3):
        change = after_run(health, DOWN, AT)
        health = change.health
        seen.append(_types(change.events))
    assert seen == [[], [EventType.CLINIC_FAILURES_WARNING], [EventType.CLINIC_PAUSED]]
    assert health.paused
    assert health.pause == PauseReason(
        PauseKind.FAILURES, "3 runs failed in a row (the last: pims_unavailable)"
    )


def test_zero_turns_warnings_and_pauses_off() -> None:
    health = ClinicHealth(
        CLINIC, settings=HealthSettings(warn_after_failures=0, pause_after_failures=0)
    )
    for _ in range(50):
        change = after_run(health, DOWN, AT)
        assert change.events == []
        health = change.health
    assert health.consecutive_failures == 50
    assert not health.paused


def test_a_refused_password_pauses_even_with_pauses_off() -> None:
    health = ClinicHealth(CLINIC, settings=HealthSettings(pause_after_failures=0))
    end = RunEnd(success=False, code="pims_auth_failed")
    change = after_run(health, end, AT)
    assert _types(change.events) == [EventType.CLINIC_PAUSED]
    assert change.health.pause is not None
    assert change.health.pause.kind is PauseKind.CREDENTIALS
    assert change.events[0].payload["pauseKind"] == "credentials"


def test_a_paused_clinic_is_not_paused_again() -> None:
    health = paused_now(ClinicHealth(CLINIC), PauseReason(PauseKind.OPERATOR, "first"), AT).health
    again = paused_now(health, PauseReason(PauseKind.OPERATOR, "second"), AT)
    assert again.events == []
    assert again.health.pause == PauseReason(PauseKind.OPERATOR, "first")
    assert after_run(replace(health, consecutive_failures=9), DOWN, AT).events == []


def test_resume_clears_the_pause_and_the_count() -> None:
    health = replace(
        paused_now(ClinicHealth(CLINIC), PauseReason(PauseKind.FAILURES, "10"), AT).health,
        consecutive_failures=10,
    )
    change = resumed(health, AT, "the command line")
    assert not change.health.paused
    assert change.health.consecutive_failures == 0
    assert _types(change.events) == [EventType.CLINIC_RESUMED]
    assert resumed(change.health, AT, "again").events == []


def test_an_announcement_only_for_a_new_status() -> None:
    phases = (SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILIATION)
    facts = HealthFacts(CLINIC, dict.fromkeys(phases, AT), dict.fromkeys(phases, 60))
    fresh = assess(facts, AT)
    first = announcement(ClinicHealth(CLINIC), fresh)
    assert first.health.announced is Freshness.FRESH
    assert first.events[0].payload["previousStatus"] is None
    assert announcement(first.health, fresh).events == []


def test_a_hand_written_reason_reads_as_the_operator_s() -> None:
    assert PauseReason.read("credentials: refused") == PauseReason(PauseKind.CREDENTIALS, "refused")
    assert PauseReason.read("maintenance window") == PauseReason(
        PauseKind.OPERATOR, "maintenance window"
    )


def test_limits_have_bounds() -> None:
    assert check_limit(Limit.PAUSE_AFTER, 0) == 0
    assert check_limit(Limit.LOGIN_BUDGET, None) is None
    with pytest.raises(InvalidInputError, match="daily_login_budget must be from 0 to 1000"):
        check_limit(Limit.LOGIN_BUDGET, 1001)
