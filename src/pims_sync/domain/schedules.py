"""Schedules: a clinic's cron entries (`clinic_schedule_configs.sync_schedules`), validated."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from croniter import croniter

from pims_sync.domain.runs import SyncType

# Options a schedule may pass to its runs, with their bounds (as the HTTP API's).
OPTION_BOUNDS: dict[str, tuple[int, int]] = {
    "daysAhead": (0, 90),
    "lookbackDays": (1, 180),
    "parallelBatchSize": (1, 50),
}
FLAG_OPTIONS = ("force",)


@dataclass(frozen=True, slots=True)
class SyncSchedule:
    """One cron entry of a clinic: run `type` at every `cron` time, in the clinic's zone."""

    type: SyncType
    cron: str
    enabled: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """The stored JSON form (the seed document's format)."""
        return {
            "type": self.type.value,
            "cron": self.cron,
            "enabled": self.enabled,
            "options": dict(self.options),
        }


@dataclass(frozen=True, slots=True)
class ScheduleProblem:
    """Why one entry of `sync_schedules` was refused (it is skipped, the rest still run)."""

    index: int  # -1: the clinic as a whole (e.g. its time zone), not one entry
    message: str

    def __str__(self) -> str:
        if self.index < 0:
            return self.message
        return f"schedule #{self.index + 1}: {self.message}"


@dataclass(frozen=True, slots=True)
class ClinicSchedules:
    """A clinic's valid schedules and the problems of its invalid entries."""

    schedules: tuple[SyncSchedule, ...] = ()
    problems: tuple[ScheduleProblem, ...] = ()


class ScheduleError(ValueError):
    """An entry of `sync_schedules` is not valid."""


def cron_fields(expression: str) -> int:
    """How many fields a cron expression has (5 standard; 6 = leading seconds, our extension)."""
    return len(expression.split())


def validate_cron(expression: object) -> str:
    """The expression, normalised; ScheduleError saying why it is not a valid cron."""
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError("cron must be a non-empty string such as '0 6 * * *'")
    expression = " ".join(expression.split())
    count = cron_fields(expression)
    if count not in (5, 6):
        raise ScheduleError(
            f"cron {expression!r} has {count} fields; use 5 (minute hour day month weekday) "
            "or 6 with leading seconds"
        )
    if not croniter.is_valid(expression, second_at_beginning=count == 6):
        raise ScheduleError(f"cron {expression!r} is not a valid cron expression")
    return expression


def validate_options(options: object) -> dict[str, Any]:
    """The options, checked against their bounds; ScheduleError naming the bad one."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ScheduleError('options must be an object such as {"daysAhead": 7}')
    clean: dict[str, Any] = {}
    for name, value in options.items():
        if name in FLAG_OPTIONS:
            if not isinstance(value, bool):
                raise ScheduleError(f"option {name} must be true or false")
        elif name in OPTION_BOUNDS:
            low, high = OPTION_BOUNDS[name]
            if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
                raise ScheduleError(f"option {name} must be an integer from {low} to {high}")
        else:
            known = ", ".join([*OPTION_BOUNDS, *FLAG_OPTIONS])
            raise ScheduleError(f"unknown option {name!r} (known: {known})")
        clean[name] = value
    return clean


def parse_schedule(entry: object) -> SyncSchedule:
    """One entry of `sync_schedules`; ScheduleError saying what is wrong with it."""
    if not isinstance(entry, Mapping):
        raise ScheduleError("each schedule must be an object with type and cron")
    kind = entry.get("type")
    try:
        sync_type = SyncType(str(kind))
    except ValueError:
        types = ", ".join(t.value for t in SyncType)
        raise ScheduleError(f"type must be one of {types}, got {kind!r}") from None
    enabled = entry.get("enabled", True)
    if not isinstance(enabled, bool):
        raise ScheduleError("enabled must be true or false")
    return SyncSchedule(
        type=sync_type,
        cron=validate_cron(entry.get("cron")),
        enabled=enabled,
        options=validate_options(entry.get("options")),
    )


def parse_schedules(raw: object) -> ClinicSchedules:
    """Every valid entry, and a problem per invalid one (a second entry of a type is one)."""
    if raw is None:
        return ClinicSchedules()
    if not isinstance(raw, list):
        return ClinicSchedules(problems=(ScheduleProblem(0, "sync_schedules must be a list"),))
    schedules: list[SyncSchedule] = []
    problems: list[ScheduleProblem] = []
    for index, entry in enumerate(raw):
        try:
            schedule = parse_schedule(entry)
        except ScheduleError as error:
            problems.append(ScheduleProblem(index, str(error)))
            continue
        # One schedule per type: a fire is identified by (clinic, type, time).
        if any(s.type is schedule.type for s in schedules):
            problems.append(
                ScheduleProblem(index, f"a {schedule.type.value} schedule is already defined")
            )
            continue
        schedules.append(schedule)
    return ClinicSchedules(tuple(schedules), tuple(problems))
