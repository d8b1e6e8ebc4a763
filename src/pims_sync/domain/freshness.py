"""Freshness: how recently each phase of a clinic succeeded, and the clinic's status.

A clinic is **paused** (no runs until resumed), else **failing** (its last run failed:
`consecutive_failures` > 0), else **stale** (a phase's last success is older than the
phase's threshold, or it never succeeded), else **fresh**. The first that applies wins.
A phase's threshold is the clinic's own (`clinic_sync_health`) or 2.5 × the longest gap
between two fire times of the most frequent enabled schedule that runs it (a full
schedule runs all three phases), or 150 minutes without one. See docs/freshness.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from uuid import UUID

from pims_sync.domain.instants import utc
from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import SyncSchedule, longest_interval

PHASES = (SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILIATION)
INTERVAL_FACTOR = 2.5
UNSCHEDULED_THRESHOLD_SECONDS = 150 * 60


class Freshness(StrEnum):
    """A clinic's status, most urgent first."""

    PAUSED = "paused"
    FAILING = "failing"
    STALE = "stale"
    FRESH = "fresh"


@dataclass(frozen=True, slots=True)
class PhaseFreshness:
    """One phase: its last success, how old it is now, and the age at which it is stale."""

    phase: SyncType
    last_success_at: datetime | None
    age_seconds: int | None
    threshold_seconds: int

    @property
    def stale(self) -> bool:
        """Never succeeded, or older than its threshold."""
        return self.age_seconds is None or self.age_seconds > self.threshold_seconds


@dataclass(frozen=True, slots=True)
class ClinicFreshness:
    """A clinic's status now, each phase's freshness, and why it is not fresh."""

    clinic_id: UUID
    status: Freshness
    phases: tuple[PhaseFreshness, ...]
    consecutive_failures: int
    reason: str | None
    checked_at: datetime
    paused_at: datetime | None = None

    def phase(self, phase: SyncType) -> PhaseFreshness:
        """The freshness of one phase."""
        return next(p for p in self.phases if p.phase is phase)


def schedule_thresholds(schedules: Sequence[SyncSchedule]) -> dict[SyncType, int]:
    """Each phase's default threshold in seconds, from the schedules that run it.

    The longest gap between fire times (not the shortest) so that a schedule that runs as
    planned, nights and weekends included, never looks stale; of several schedules
    running a phase, the most frequent one decides.
    """
    thresholds: dict[SyncType, int] = {}
    for phase in PHASES:
        gaps = [
            gap
            for schedule in schedules
            if schedule.enabled and schedule.type in (phase, SyncType.FULL)
            if (gap := longest_interval(schedule.cron)) is not None
        ]
        thresholds[phase] = (
            round(min(gaps).total_seconds() * INTERVAL_FACTOR)
            if gaps
            else UNSCHEDULED_THRESHOLD_SECONDS
        )
    return thresholds


def thresholds_for(
    schedules: Sequence[SyncSchedule], overrides: Mapping[SyncType, int | None]
) -> dict[SyncType, int]:
    """The clinic's own threshold of a phase where it set one, else the schedule's default."""
    defaults = schedule_thresholds(schedules)
    return {
        phase: value if (value := overrides.get(phase)) is not None else defaults[phase]
        for phase in PHASES
    }


def phase_freshness(
    phase: SyncType, last_success_at: datetime | None, threshold_seconds: int, now: datetime
) -> PhaseFreshness:
    """One phase's freshness at `now` (an age never below zero)."""
    age = None
    if last_success_at is not None:
        age = max(0, int((utc(now) - utc(last_success_at)).total_seconds()))
    return PhaseFreshness(phase, last_success_at, age, threshold_seconds)


@dataclass(frozen=True, slots=True)
class HealthFacts:
    """What the status is decided from: the pause, the failures in a row, the successes."""

    clinic_id: UUID
    last_success: Mapping[SyncType, datetime | None]
    thresholds: Mapping[SyncType, int]
    consecutive_failures: int = 0
    paused_at: datetime | None = None
    paused_reason: str | None = None


def assess(facts: HealthFacts, now: datetime) -> ClinicFreshness:
    """The clinic's status at `now`: paused > failing > stale > fresh."""
    phases = tuple(
        phase_freshness(phase, facts.last_success.get(phase), facts.thresholds[phase], now)
        for phase in PHASES
    )
    status, reason = _status(facts, phases)
    return ClinicFreshness(
        clinic_id=facts.clinic_id,
        status=status,
        phases=phases,
        consecutive_failures=facts.consecutive_failures,
        reason=reason,
        checked_at=utc(now),
        paused_at=facts.paused_at,
    )


def _status(facts: HealthFacts, phases: tuple[PhaseFreshness, ...]) -> tuple[Freshness, str | None]:
    if facts.paused_at is not None:
        return Freshness.PAUSED, facts.paused_reason or "paused"
    if facts.consecutive_failures > 0:
        count = facts.consecutive_failures
        runs = "the last run" if count == 1 else f"the last {count} runs"
        return Freshness.FAILING, f"{runs} failed"
    stale = [phase_reason(p) for p in phases if p.stale]
    if stale:
        return Freshness.STALE, "; ".join(stale)
    return Freshness.FRESH, None


def phase_reason(phase: PhaseFreshness) -> str:
    """Why a stale phase is stale, in words."""
    if phase.age_seconds is None:
        return f"{phase.phase.value} has never succeeded"
    return (
        f"{phase.phase.value} last succeeded {duration(phase.age_seconds)} ago "
        f"(threshold {duration(phase.threshold_seconds)})"
    )


def duration(seconds: int) -> str:
    """`2 h 30 min`, `45 min`, `30 s`, `3 d 4 h`: the two largest units."""
    parts: list[str] = []
    rest = timedelta(seconds=seconds)
    days, hours = rest.days, rest.seconds // 3600
    minutes, secs = rest.seconds % 3600 // 60, rest.seconds % 60
    for value, unit in ((days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")):
        if value and len(parts) < 2:
            parts.append(f"{value} {unit}")
        elif parts:
            break
    return " ".join(parts) or "0 s"
