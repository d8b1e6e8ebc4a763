"""Availability answers: the clinic's rules over the schedule mirror, fresh enough, no PIMS call.

`AvailabilityDesk` reads the rules, the mirror's entries and live holds of the asked days,
and computes slots with the pure `domain/availability.py`. Before answering it looks at
the mirror's age for those days (docs/availability.md#freshness-before-answering).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Literal

from pims_sync.domain.availability import (
    DaySlots,
    FreeSlot,
    Schedule,
    SlotQuery,
    bookable_resources,
    free_slots,
    slots_after,
)
from pims_sync.domain.booking import BookingRules
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.instants import utc
from pims_sync.errors import InvalidInputError
from pims_sync.ports.booking import BookingConfigStore
from pims_sync.ports.mirror import ScheduleMirror
from pims_sync.sync.windows import day_start

# The columns of a clinic are those its mirror has seen in the weeks before the asked days.
RESOURCE_LOOKBACK = timedelta(days=28)
# `next` looks this many days at a time, up to the rules' horizon.
NEXT_CHUNK_DAYS = 7
# ... and refreshes (when the mirror is old) this many days from `after`.
NEXT_FRESHNESS_DAYS = 14
FreshnessStatus = Literal["fresh", "refreshed", "stale"]
FRESH: FreshnessStatus = "fresh"
REFRESHED: FreshnessStatus = "refreshed"
STALE: FreshnessStatus = "stale"


@dataclass(frozen=True, slots=True)
class Freshness:
    """How old the mirror of the asked days was, and what was done about it."""

    status: FreshnessStatus
    last_sync_at: datetime | None = None
    age_seconds: int | None = None
    sync_id: str | None = None
    detail: str | None = None


@dataclass(frozen=True, slots=True)
class Answer:
    """What availability says: the clinic, when, the visit's length, the mirror's age, slots."""

    clinic: Clinic
    generated_at: datetime
    duration: timedelta
    freshness: Freshness
    days: tuple[DaySlots, ...] = ()
    slots: tuple[FreeSlot, ...] = ()


@dataclass(frozen=True, slots=True)
class Ask:
    """What a caller asks: the visit's length (or its type) and which columns."""

    duration_minutes: int | None = None
    appointment_type: str | None = None
    resource_ids: tuple[str, ...] = ()

    def duration(self, rules: BookingRules) -> timedelta:
        """The visit's length: given, else the type's, else one slot."""
        if self.duration_minutes is not None:
            return timedelta(minutes=self.duration_minutes)
        return rules.visit_length(self.appointment_type)


class AvailabilityDesk:
    """Free slots of a clinic from the mirror, its rules and its live holds."""

    def __init__(
        self,
        *,
        mirror: ScheduleMirror,
        booking: BookingConfigStore,
        max_age_seconds: float = 300,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mirror = mirror
        self.booking = booking
        self._max_age = max_age_seconds
        self._now = now

    async def days(self, clinic: Clinic, ask: Ask, first: date | None, days: int) -> Answer:
        """The free slots of `days` clinic days from `first` (default: the clinic's today)."""
        now = utc(self._now())
        today = now.astimezone(clinic.zone).date()
        first = first or today
        if first < today:
            raise InvalidInputError(
                f"date {first} is in the past for the clinic (its today is {today})"
            )
        rules = (await self.booking.get(clinic.id)).rules
        last = first + timedelta(days=days - 1)
        freshness = await self._freshness(clinic, rules, first, last, now)
        query = await self._query(clinic, rules, ask, now)
        schedule = await self._schedule(clinic, query, first, last)
        found = free_slots(query, schedule, first, days)
        return Answer(clinic, now, query.duration, freshness, days=tuple(found))

    async def next_free(
        self, clinic: Clinic, ask: Ask, after: datetime | None, count: int
    ) -> Answer:
        """The first `count` free slots that start at or after `after` (default: now)."""
        now = utc(self._now())
        after = utc(after) if after is not None else now
        rules = (await self.booking.get(clinic.id)).rules
        query = await self._query(clinic, rules, ask, now)
        first = max(after.astimezone(clinic.zone).date(), query.today)
        freshness = await self._freshness(
            clinic, rules, first, first + timedelta(days=NEXT_FRESHNESS_DAYS - 1), now
        )
        found: list[FreeSlot] = []
        while len(found) < count and first <= query.last_day:
            last = min(first + timedelta(days=NEXT_CHUNK_DAYS - 1), query.last_day)
            schedule = await self._schedule(clinic, query, first, last)
            found += slots_after(query, schedule, after, first, (last - first).days + 1)
            first = last + timedelta(days=1)
        return Answer(clinic, now, query.duration, freshness, slots=tuple(found[:count]))

    async def _query(
        self, clinic: Clinic, rules: BookingRules, ask: Ask, now: datetime
    ) -> SlotQuery:
        since = day_start(now.astimezone(clinic.zone).date(), clinic.zone) - RESOURCE_LOOKBACK
        known = await self.mirror.resource_ids(clinic_id=clinic.id, since=since)
        columns = bookable_resources(rules, known, ask.resource_ids)
        return SlotQuery(rules, clinic.zone, ask.duration(rules), now, columns)

    async def _schedule(
        self, clinic: Clinic, query: SlotQuery, first: date, last: date
    ) -> Schedule:
        """The mirror's live entries over the days, widened by the buffers."""
        rules = query.rules
        reach = rules.buffer_before + rules.buffer_after
        start = day_start(first, clinic.zone) - reach
        end = day_start(last + timedelta(days=1), clinic.zone) + reach
        entries = await self.mirror.entries_between(clinic_id=clinic.id, start=start, end=end)
        return Schedule(entries=entries, resources=query.resource_ids)

    async def _freshness(
        self, clinic: Clinic, rules: BookingRules, first: date, last: date, now: datetime
    ) -> Freshness:
        """The age of the mirror over the bookable part of [first, last]."""
        today = now.astimezone(clinic.zone).date()
        first, last = max(first, today), min(last, today + timedelta(days=rules.max_days_ahead))
        if last < first:
            return Freshness(FRESH, detail="no bookable day asked: nothing to read")
        read = await self.mirror.synced_days(clinic_id=clinic.id, first=first, last=last)
        if len(read) < (last - first).days + 1:
            return Freshness(STALE, detail=_never_read(first, last, read))
        oldest = min(read.values())
        age = max(0, round((now - oldest).total_seconds()))
        return Freshness(FRESH if age <= self._max_age else STALE, oldest, age)


def _never_read(first: date, last: date, read: Sequence[date] | dict[date, datetime]) -> str:
    missing = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    missing = [day for day in missing if day not in read]
    return f"the PIMS calendar of {missing[0]} was never read" + (
        f" (nor of {len(missing) - 1} more day(s))" if len(missing) > 1 else ""
    )
