"""Self-protection: failures in a row, when a clinic is warned about or paused, its events.

A run refused by the PIMS for the clinic's password pauses the clinic at once (retrying a
wrong password is how PIMS accounts get locked). Other failures count in a row: a
warning event at `warn_after` (5), a pause at `pause_after` (10); 0 turns either off. A
run that ends well resets the count. Failures that are the service's own refusals
(the daily budgets, a run stopped from outside) leave it as it is. See docs/freshness.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from enum import StrEnum
from typing import Any
from uuid import UUID

from pims_sync.domain.freshness import ClinicFreshness, Freshness
from pims_sync.domain.instants import iso, iso_or_none
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.domain.runs import SyncType
from pims_sync.errors import InvalidInputError, PimsAuthError

DEFAULT_WARN_AFTER = 5
DEFAULT_PAUSE_AFTER = 10
DEFAULT_LOGIN_BUDGET = 12
PASSWORD_REFUSED = PimsAuthError.code
# The service's own refusals: they say nothing about the PIMS or the clinic's login.
NOT_COUNTED = frozenset({"pims_budget_exhausted", "pims_login_budget_exhausted", "cancelled"})


class PauseKind(StrEnum):
    """Why a clinic is paused: what resumes it besides `clinics resume`."""

    CREDENTIALS = "credentials"  # the PIMS refused the password: new credentials resume it
    FAILURES = "failures"  # pause_after failures in a row
    OPERATOR = "operator"  # paused by hand (CLI or API)


@dataclass(frozen=True, slots=True)
class PauseReason:
    """Why a clinic is paused, stored as `<kind>: <text>` in `paused_reason`."""

    kind: PauseKind
    text: str

    def stored(self) -> str:
        """The column's value."""
        return f"{self.kind.value}: {self.text}"

    @classmethod
    def read(cls, stored: str | None) -> PauseReason | None:
        """The reason a column holds (a value written by hand counts as the operator's)."""
        if stored is None:
            return None
        kind, sep, text = stored.partition(": ")
        if sep and kind in PauseKind.__members__.values():
            return cls(PauseKind(kind), text)
        return cls(PauseKind.OPERATOR, stored)


class Limit(StrEnum):
    """A clinic's own limit, as `clinic_sync_health` names its column."""

    INBOUND_THRESHOLD = "inbound_threshold_seconds"
    CASES_THRESHOLD = "cases_threshold_seconds"
    RECONCILIATION_THRESHOLD = "reconciliation_threshold_seconds"
    WARN_AFTER = "warn_after_failures"
    PAUSE_AFTER = "pause_after_failures"
    LOGIN_BUDGET = "daily_login_budget"


THRESHOLDS = {
    SyncType.INBOUND: Limit.INBOUND_THRESHOLD,
    SyncType.CASES: Limit.CASES_THRESHOLD,
    SyncType.RECONCILIATION: Limit.RECONCILIATION_THRESHOLD,
}
# What each limit may be: thresholds from a minute to a year; counts from 0 (never).
BOUNDS = {
    **dict.fromkeys(THRESHOLDS.values(), (60, 366 * 24 * 3600)),
    Limit.WARN_AFTER: (0, 1000),
    Limit.PAUSE_AFTER: (0, 1000),
    Limit.LOGIN_BUDGET: (0, 1000),
}


def check_limit(limit: Limit, value: int | None) -> int | None:
    """The value if the limit may take it (None: back to the default); else InvalidInputError."""
    low, high = BOUNDS[limit]
    if value is not None and not low <= value <= high:
        raise InvalidInputError(f"{limit.value} must be from {low} to {high}, got {value}")
    return value


@dataclass(frozen=True, slots=True)
class HealthSettings:
    """A clinic's own limits (None: the service's default)."""

    thresholds: dict[SyncType, int | None] = field(default_factory=dict)
    warn_after_failures: int | None = None
    pause_after_failures: int | None = None
    daily_login_budget: int | None = None

    @classmethod
    def of(cls, values: dict[Limit, int | None]) -> HealthSettings:
        """From the row's columns."""
        return cls(
            thresholds={phase: values.get(limit) for phase, limit in THRESHOLDS.items()},
            warn_after_failures=values.get(Limit.WARN_AFTER),
            pause_after_failures=values.get(Limit.PAUSE_AFTER),
            daily_login_budget=values.get(Limit.LOGIN_BUDGET),
        )

    def values(self) -> dict[Limit, int | None]:
        """The row's columns."""
        return {
            **{limit: self.thresholds.get(phase) for phase, limit in THRESHOLDS.items()},
            Limit.WARN_AFTER: self.warn_after_failures,
            Limit.PAUSE_AFTER: self.pause_after_failures,
            Limit.LOGIN_BUDGET: self.daily_login_budget,
        }

    @property
    def warn_after(self) -> int:
        """Failures in a row that send `clinic.failures_warning` (0: never)."""
        value = self.warn_after_failures
        return DEFAULT_WARN_AFTER if value is None else value

    @property
    def pause_after(self) -> int:
        """Failures in a row that pause the clinic (0: never)."""
        value = self.pause_after_failures
        return DEFAULT_PAUSE_AFTER if value is None else value

    def login_budget(self, default: int) -> int:
        """Fresh PIMS logins the clinic may make per UTC day."""
        return default if self.daily_login_budget is None else self.daily_login_budget


@dataclass(frozen=True, slots=True)
class ClinicHealth:
    """A clinic's `clinic_sync_health` row (defaults when it has none yet)."""

    clinic_id: UUID
    paused_at: datetime | None = None
    paused_reason: str | None = None
    consecutive_failures: int = 0
    announced: Freshness | None = None
    settings: HealthSettings = field(default_factory=HealthSettings)

    @property
    def paused(self) -> bool:
        """Whether runs are refused."""
        return self.paused_at is not None

    @property
    def pause(self) -> PauseReason | None:
        """Why it is paused."""
        return PauseReason.read(self.paused_reason) if self.paused else None


@dataclass(frozen=True, slots=True)
class RunEnd:
    """How a top-level run ended: well, or failed with an error code.

    Only the code is kept (in reasons and events): an error's text may quote the PIMS.
    """

    success: bool
    code: str | None = None
    run_id: UUID | None = None

    @property
    def counts(self) -> bool:
        """Whether it changes the failures in a row."""
        return self.success or self.code not in NOT_COUNTED


@dataclass(frozen=True, slots=True)
class HealthChange:
    """The row after a change, and the events that say so."""

    health: ClinicHealth
    events: list[NewEvent]


def after_run(health: ClinicHealth, end: RunEnd, at: datetime) -> HealthChange:
    """Count the run, warn or pause as the rules say (the freshness is announced apart)."""
    if not end.counts:
        return HealthChange(health, [])
    if end.success:
        return HealthChange(replace(health, consecutive_failures=0), [])
    failures = health.consecutive_failures + 1
    counted = replace(health, consecutive_failures=failures)
    events: list[NewEvent] = []
    limits = health.settings
    if limits.warn_after and failures == limits.warn_after:
        events.append(_warning(counted, end, at))
    reason = _pause_reason(end, failures, limits.pause_after)
    if reason is None or health.paused:
        return HealthChange(counted, events)
    paused = paused_now(counted, reason, at)
    return HealthChange(paused.health, events + paused.events)


def _pause_reason(end: RunEnd, failures: int, pause_after: int) -> PauseReason | None:
    if end.code == PASSWORD_REFUSED:
        return PauseReason(
            PauseKind.CREDENTIALS,
            "the PIMS refused the clinic's password; storing the right one "
            "(`pims-sync credentials set`) resumes it",
        )
    if pause_after and failures >= pause_after:
        return PauseReason(
            PauseKind.FAILURES, f"{failures} runs failed in a row (the last: {end.code})"
        )
    return None


def paused_now(health: ClinicHealth, reason: PauseReason, at: datetime) -> HealthChange:
    """Pause the clinic (a paused one keeps its first reason: no change, no event)."""
    if health.paused:
        return HealthChange(health, [])
    paused = replace(health, paused_at=at, paused_reason=reason.stored())
    payload = {"reason": reason.text, "pauseKind": reason.kind.value}
    return HealthChange(paused, [_event(paused, EventType.CLINIC_PAUSED, at, payload)])


def resumed(health: ClinicHealth, at: datetime, by: str) -> HealthChange:
    """Resume a paused clinic (failures in a row start again at 0); a running one: no change."""
    if not health.paused:
        return HealthChange(health, [])
    pause = health.pause
    payload = {
        "resumedBy": by,
        "pausedAt": iso_or_none(health.paused_at),
        "pauseKind": pause.kind.value if pause else None,
    }
    running = replace(health, paused_at=None, paused_reason=None, consecutive_failures=0)
    return HealthChange(running, [_event(running, EventType.CLINIC_RESUMED, at, payload)])


def announcement(health: ClinicHealth, now: ClinicFreshness) -> HealthChange:
    """`clinic.freshness_changed` when the status differs from the one last announced."""
    if health.announced is now.status:
        return HealthChange(health, [])
    payload: dict[str, Any] = {
        "status": now.status.value,
        "previousStatus": None if health.announced is None else health.announced.value,
        "reason": now.reason,
        "consecutiveFailures": now.consecutive_failures,
        "lastSuccessAt": {p.phase.value: iso_or_none(p.last_success_at) for p in now.phases},
    }
    announced = replace(health, announced=now.status)
    event = _event(announced, EventType.CLINIC_FRESHNESS_CHANGED, now.checked_at, payload)
    return HealthChange(announced, [event])


def _warning(health: ClinicHealth, end: RunEnd, at: datetime) -> NewEvent:
    payload = {
        "consecutiveFailures": health.consecutive_failures,
        "pauseAfter": health.settings.pause_after,
        "lastErrorCode": end.code,
        "syncId": None if end.run_id is None else str(end.run_id),
    }
    return _event(health, EventType.CLINIC_FAILURES_WARNING, at, payload)


def _event(
    health: ClinicHealth, kind: EventType, at: datetime, payload: dict[str, Any]
) -> NewEvent:
    stamped = {"clinicId": str(health.clinic_id), "at": iso(at), **payload}
    return NewEvent(type=kind, subject_id=str(health.clinic_id), payload=stamped)
