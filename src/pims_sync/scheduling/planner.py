"""The planner (pure): which schedule fire times fall between two instants, in a clinic's zone.

Cron is evaluated on the clinic's wall clock. Around DST changes (decided, tested):
- a wall-clock time that repeats (fall back) fires once, at its first occurrence;
- a wall-clock time that does not exist (spring forward) fires at the same offset after
  the jump (02:30 → 03:30), and is not doubled when that time is also a match.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError

from pims_sync.domain.instants import utc
from pims_sync.domain.schedules import SyncSchedule, compiled_cron

MAX_CATCH_UP = timedelta(hours=1)
# Earlier fire times of a window are recorded as missed; beyond this many, only counted.
MAX_MISSED_RECORDED = 60
# DST shifts move the wall clock by at most this much (in every zone in use).
DST_SLACK = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class Fire:
    """One fire time of a schedule that is due now; `missed`: earlier ones it supersedes."""

    schedule: SyncSchedule
    fire_at: datetime
    missed: tuple[datetime, ...] = ()


def _wall(instant: datetime, zone: ZoneInfo) -> datetime:
    return instant.astimezone(zone).replace(tzinfo=None)


def _instant(wall: datetime, zone: ZoneInfo) -> datetime:
    # fold=0: a repeated time is its first occurrence; a missing one keeps the old offset.
    return wall.replace(tzinfo=zone, fold=0).astimezone(UTC)


def _slack(after: datetime, until: datetime, zone: ZoneInfo) -> timedelta:
    """DST_SLACK when the offset changes near the window, else none (the common case)."""
    before = (after - DST_SLACK).astimezone(zone).utcoffset()
    later = (until + DST_SLACK).astimezone(zone).utcoffset()
    return timedelta(0) if before == later else DST_SLACK


def _walls(cron: str, start: datetime) -> Iterator[datetime]:
    """Wall-clock matches after `start` (naive), in order; ends if none comes for years."""
    # A copy of the expression parsed once (never per tick), started at `start`.
    matches = copy.copy(compiled_cron(cron))
    matches.set_current(start, force=True)
    while True:
        try:
            yield matches.get_next(datetime)
        except CroniterBadDateError:
            return


def fire_times(
    schedule: SyncSchedule, zone: ZoneInfo, after: datetime, until: datetime
) -> list[datetime]:
    """The schedule's fire instants (UTC) in (after, until], ascending, each once."""
    after, until = utc(after), utc(until)
    if until <= after:
        return []
    slack = _slack(after, until, zone)
    last_wall = _wall(until, zone) + slack
    found: set[datetime] = set()
    for wall in _walls(schedule.cron, _wall(after, zone) - slack):
        if wall > last_wall:
            break
        instant = _instant(wall, zone)
        if after < instant <= until:
            found.add(instant)
    return sorted(found)


def due_fires(
    schedules: Iterable[SyncSchedule],
    zone: ZoneInfo,
    after: datetime,
    until: datetime,
    max_catch_up: timedelta = MAX_CATCH_UP,
) -> list[Fire]:
    """The latest fire time in (after, until] of each enabled schedule, not older than the cap.

    Several fire times in one window (the service was down, or the cron is faster than
    the tick) run once: the latest; the earlier ones come back as `missed`.
    """
    after = max(utc(after), utc(until) - max_catch_up)
    due: list[Fire] = []
    for schedule in schedules:
        if not schedule.enabled:
            continue
        times = fire_times(schedule, zone, after, until)
        if times:
            missed = tuple(times[-1 - MAX_MISSED_RECORDED : -1])
            due.append(Fire(schedule=schedule, fire_at=times[-1], missed=missed))
    return due


def next_fire(schedule: SyncSchedule, zone: ZoneInfo, after: datetime) -> datetime | None:
    """The schedule's first fire instant after `after` (None if disabled or never)."""
    if not schedule.enabled:
        return None
    after = utc(after)
    start = _wall(after, zone) - _slack(after, after, zone)
    best: datetime | None = None
    for wall in _walls(schedule.cron, start):
        instant = _instant(wall, zone)
        if instant > after and (best is None or instant < best):
            best = instant
        if best is None:
            continue
        # Wall times only map out of order near a DST change; elsewhere the first is it.
        if _slack(after, best, zone) == timedelta(0) or wall > _wall(best, zone) + DST_SLACK:
            return best
    return best
