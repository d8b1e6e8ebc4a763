"""Date windows in the clinic's time zone, and the true instants they cover."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

MAX_CHUNK_DAYS = 31


@dataclass(frozen=True, slots=True)
class DateWindow:
    """Whole clinic days from `first` to `last`, both included."""

    first: date
    last: date

    def __post_init__(self) -> None:
        if self.last < self.first:
            raise ValueError(f"window ends ({self.last}) before it starts ({self.first})")

    @property
    def days(self) -> int:
        """How many days the window covers."""
        return (self.last - self.first).days + 1

    def start_instant(self, zone: ZoneInfo) -> datetime:
        """The first instant of the first day, in the clinic's zone."""
        return day_start(self.first, zone)

    def end_instant(self, zone: ZoneInfo) -> datetime:
        """The first instant after the last day (exclusive bound)."""
        return day_start(self.last + timedelta(days=1), zone)

    def chunks(self, max_days: int = MAX_CHUNK_DAYS) -> Iterator[DateWindow]:
        """Consecutive windows of at most `max_days` days covering this one."""
        first = self.first
        while first <= self.last:
            last = min(first + timedelta(days=max_days - 1), self.last)
            yield DateWindow(first, last)
            first = last + timedelta(days=1)

    def contains(self, day: date) -> bool:
        """Whether the clinic day lies inside the window."""
        return self.first <= day <= self.last


def day_start(day: date, zone: ZoneInfo) -> datetime:
    """Local midnight of `day` as an aware UTC instant (DST-correct).

    UTC, because Python subtracts two datetimes of the same zone as wall-clock times.
    """
    return datetime.combine(day, time.min, tzinfo=zone).astimezone(UTC)


def clinic_today(now: datetime, zone: ZoneInfo) -> date:
    """The clinic's calendar date at instant `now`."""
    return now.astimezone(zone).date()
