"""Schedules: a clinic's cron entries (`clinic_schedule_configs.sync_schedules`), validated."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import pairwise
from typing import Any

from croniter import CroniterBadDateError, CroniterError, croniter

from pims_sync.domain.run_options import SCHEDULE_OPTIONS
from pims_sync.domain.runs import SyncType
from pims_sync.errors import OptionError, ScheduleError

# A cron is short and plain: parsing one is cheap, whoever wrote it (a clinic key can).
MAX_CRON_LENGTH = 100
MAX_LIST_ITEMS = 24  # per field: every hour of a day, listed one by one, still fits
# A clinic has one schedule per type: more entries than this are not read at all.
MAX_ENTRIES = 16
DEFAULT_MIN_INTERVAL_SECONDS = 300
DAY_SECONDS = 24 * 3600
# Fire days are walked from here (a Monday of a leap year) over a year at most.
DAYS_FROM = datetime(2024, 1, 1, tzinfo=UTC)  # UTC: a wall clock without DST
DAYS_WALKED = timedelta(days=366)
MAX_FIRE_DAYS = 400


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


@dataclass(frozen=True, slots=True)
class ScheduleRules:
    """What a schedule may ask for: how often at most, and whether it may name seconds."""

    min_interval_seconds: int = DEFAULT_MIN_INTERVAL_SECONDS
    allow_seconds: bool = True


DEFAULT_RULES = ScheduleRules()


def cron_fields(expression: str) -> int:
    """How many fields a cron expression has (5 standard; 6 = leading seconds, our extension)."""
    return len(expression.split())


def validate_cron(expression: object) -> str:
    """The expression, normalised; ScheduleError saying why it is not a valid cron."""
    if not isinstance(expression, str) or not expression.strip():
        raise ScheduleError("cron must be a non-empty string such as '0 6 * * *'")
    if len(expression) > MAX_CRON_LENGTH:
        # Checked before anything else looks at it: the message never repeats it.
        raise ScheduleError(f"cron is longer than {MAX_CRON_LENGTH} characters")
    expression = " ".join(expression.split())
    count = cron_fields(expression)
    if count not in (5, 6):
        raise ScheduleError(
            f"cron {expression!r} has {count} fields; use 5 (minute hour day month weekday) "
            "or 6 with leading seconds"
        )
    if any(part.count(",") >= MAX_LIST_ITEMS for part in expression.split()):
        raise ScheduleError(
            f"cron {expression!r} lists more than {MAX_LIST_ITEMS} items in a field"
        )
    compiled_cron(expression)
    return expression


@lru_cache(maxsize=1024)
def compiled_cron(expression: str) -> croniter:
    """The parsed cron, parsed once per expression (callers copy it before iterating)."""
    try:
        return croniter(expression, second_at_beginning=cron_fields(expression) == 6)
    except (CroniterError, ValueError):
        raise ScheduleError(f"cron {expression!r} is not a valid cron expression") from None


def _values(field: Sequence[object], size: int) -> list[int]:
    """The values a time field of an expanded cron takes ('*' is all of them)."""
    if not field or field[0] == "*":
        return list(range(size))
    return sorted({int(v) for v in field if isinstance(v, int)})


def _closest(values: list[int]) -> int | None:
    """The smallest step between consecutive values (None for a single value)."""
    return min((b - a for a, b in pairwise(values)), default=None)


def shortest_interval(expression: str) -> timedelta:
    """The shortest time between two fire times of a valid cron, on the wall clock.

    Fire times of a day are every (hour, minute, second) of the cron's sets, so the
    shortest gap is between neighbours in one set, with the finer fields at their ends;
    across midnight the next day is assumed to fire too (a bound, never an overestimate).
    """
    expanded = compiled_cron(expression).expanded
    minutes, hours = _values(expanded[0], 60), _values(expanded[1], 24)
    seconds = _values(expanded[5], 60) if len(expanded) > 5 else [0]
    span_s = seconds[-1] - seconds[0]
    span_m = (minutes[-1] - minutes[0]) * 60 + span_s
    gaps = [DAY_SECONDS - (hours[-1] - hours[0]) * 3600 - span_m]
    for step, unit, span in ((_closest(seconds), 1, 0), (_closest(minutes), 60, span_s)):
        if step is not None:
            gaps.append(step * unit - span)
    if (step := _closest(hours)) is not None:
        gaps.append(step * 3600 - span_m)
    return timedelta(seconds=min(gaps))


def _widest(values: list[int]) -> int | None:
    """The largest step between consecutive values (None for a single value)."""
    return max((b - a for a, b in pairwise(values)), default=None)


def _fire_days(expression: str) -> list[datetime]:
    """The days a cron fires on, from DAYS_FROM over a year (its day fields alone)."""
    standard = expression.split()[-5:]  # without a leading seconds field
    days = croniter(f"0 0 {' '.join(standard[2:])}", DAYS_FROM)
    found: list[datetime] = []
    try:
        while len(found) < MAX_FIRE_DAYS and (len(found) < 2 or found[-1] - found[0] < DAYS_WALKED):
            found.append(days.get_next(datetime))
    except CroniterBadDateError:  # no further day matches (e.g. the 30th of February)
        pass
    return found


@lru_cache(maxsize=1024)
def longest_interval(expression: str) -> timedelta | None:
    """The longest wall-clock time between two consecutive fire times of a valid cron.

    Within a day it follows from the cron's second, minute and hour sets (as
    `shortest_interval`); between two fire days, from the days the cron fires on over a
    year (a weekday cron's weekend, a monthly cron's longest month). None when the cron
    fires at most once (no interval). DST shifts are ignored: an hour either way.
    """
    days = _fire_days(expression)
    if len(days) < 2:
        return None
    expanded = compiled_cron(expression).expanded
    minutes, hours = _values(expanded[0], 60), _values(expanded[1], 24)
    seconds = _values(expanded[5], 60) if len(expanded) > 5 else [0]
    span_s = seconds[-1] - seconds[0]
    span_m = (minutes[-1] - minutes[0]) * 60 + span_s
    span_day = (hours[-1] - hours[0]) * 3600 + span_m
    widest_days = max((b - a).days for a, b in pairwise(days))
    gaps = [widest_days * DAY_SECONDS - span_day]
    for step, unit, span in (
        (_widest(seconds), 1, 0),
        (_widest(minutes), 60, span_s),
        (_widest(hours), 3600, span_m),
    ):
        if step is not None:
            gaps.append(step * unit - span)
    return timedelta(seconds=max(gaps))


def check_rules(expression: str, rules: ScheduleRules) -> None:
    """ScheduleError when a valid cron asks for more than the rules allow."""
    if cron_fields(expression) == 6 and not rules.allow_seconds:
        raise ScheduleError(
            "a seconds field (6-field cron) is for service keys and the command line only"
        )
    interval = round(shortest_interval(expression).total_seconds())
    if interval < rules.min_interval_seconds:
        raise ScheduleError(
            f"cron {expression!r} fires {interval} s apart; "
            f"schedules may fire at most every {rules.min_interval_seconds} s"
        )


def validate_options(options: object) -> dict[str, Any]:
    """The options, checked by their declarations; ScheduleError naming the bad one."""
    if options is None:
        return {}
    if not isinstance(options, Mapping):
        raise ScheduleError('options must be an object such as {"daysAhead": 7}')
    clean: dict[str, Any] = {}
    for name, value in options.items():
        if name not in SCHEDULE_OPTIONS:
            known = ", ".join(SCHEDULE_OPTIONS)
            raise ScheduleError(f"unknown option {name!r} (known: {known})")
        try:
            clean[name] = SCHEDULE_OPTIONS[name].check(value)
        except OptionError as error:
            raise ScheduleError(f"option {error}") from None
    return clean


def parse_schedule(entry: object, rules: ScheduleRules = DEFAULT_RULES) -> SyncSchedule:
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
    cron = validate_cron(entry.get("cron"))
    check_rules(cron, rules)
    return SyncSchedule(
        type=sync_type,
        cron=cron,
        enabled=enabled,
        options=validate_options(entry.get("options")),
    )


def parse_schedules(raw: object, rules: ScheduleRules = DEFAULT_RULES) -> ClinicSchedules:
    """Every valid entry, and a problem per invalid one (a second entry of a type is one)."""
    if raw is None:
        return ClinicSchedules()
    if not isinstance(raw, list):
        return ClinicSchedules(problems=(ScheduleProblem(0, "sync_schedules must be a list"),))
    if len(raw) > MAX_ENTRIES:
        message = f"sync_schedules has {len(raw)} entries; at most {MAX_ENTRIES} are read"
        return ClinicSchedules(problems=(ScheduleProblem(-1, message),))
    schedules: list[SyncSchedule] = []
    problems: list[ScheduleProblem] = []
    for index, entry in enumerate(raw):
        try:
            schedule = parse_schedule(entry, rules)
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
