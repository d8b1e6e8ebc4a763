"""Availability answers: the clinic's rules over the schedule mirror, fresh enough, no PIMS call.

`AvailabilityDesk` reads the rules, the mirror's entries and live holds of the asked days,
and computes slots with the pure `domain/availability.py`. Before answering it looks at
the mirror's age for those days (docs/availability.md#freshness-before-answering).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from typing import Literal
from uuid import UUID

from pims_sync.domain.availability import (
    DaySlots,
    FreeSlot,
    Schedule,
    SlotQuery,
    bookable_resources,
    free_at,
    free_slots,
    rules_refuse,
    slots_after,
)
from pims_sync.domain.booking import BookingRules
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.holds import (
    DEFAULT_TTL_SECONDS,
    Hold,
    HoldState,
    NewHold,
    check_reference,
    check_ttl,
)
from pims_sync.domain.instants import utc
from pims_sync.errors import HoldNotFoundError, InvalidInputError, SlotUnavailableError
from pims_sync.ports.booking import BookingConfigStore
from pims_sync.ports.holds import HoldStore
from pims_sync.ports.mirror import ScheduleMirror
from pims_sync.sync.refresh import MirrorRefresher
from pims_sync.sync.windows import day_start

# The columns of a clinic are those its mirror has seen in the weeks before the asked days.
RESOURCE_LOOKBACK = timedelta(days=28)
# `next` looks this many days at a time, up to the rules' horizon.
NEXT_CHUNK_DAYS = 7
# ... and refreshes (when the mirror is old) this many days from `after`.
NEXT_FRESHNESS_DAYS = 14
# Alternatives a refused hold offers: what a caller hears instead.
ALTERNATIVES = 3
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
class HoldAsk:
    """A hold asked for: its start, the visit (length, type, column), its life, a label."""

    start: datetime
    ask: Ask
    ttl_seconds: int = DEFAULT_TTL_SECONDS
    reference: str | None = None


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
        holds: HoldStore,
        refresher: MirrorRefresher | None = None,
        max_age_seconds: float = 300,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.mirror = mirror
        self.booking = booking
        self.holds = holds
        self._refresher = refresher  # None: answer from the mirror as it is, however old
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
        freshness = await self._fresh(clinic, rules, first, last, now)
        query = await self._query(clinic, rules, ask, utc(self._now()))
        schedule = await self._schedule(clinic, query, first, last)
        found = free_slots(query, schedule, first, days)
        return Answer(clinic, query.now, query.duration, freshness, days=tuple(found))

    async def next_free(
        self, clinic: Clinic, ask: Ask, after: datetime | None, count: int
    ) -> Answer:
        """The first `count` free slots that start at or after `after` (default: now)."""
        now = utc(self._now())
        after = utc(after) if after is not None else now
        rules = (await self.booking.get(clinic.id)).rules
        first = max(after.astimezone(clinic.zone).date(), now.astimezone(clinic.zone).date())
        last = first + timedelta(days=NEXT_FRESHNESS_DAYS - 1)
        freshness = await self._fresh(clinic, rules, first, last, now)
        query = await self._query(clinic, rules, ask, utc(self._now()))
        found = await self._slots_after(clinic, query, after, count)
        return Answer(clinic, query.now, query.duration, freshness, slots=found)

    async def _slots_after(
        self, clinic: Clinic, query: SlotQuery, after: datetime, count: int
    ) -> tuple[FreeSlot, ...]:
        """The first `count` free slots at or after `after`, a week of the mirror at a time."""
        found: list[FreeSlot] = []
        first = max(after.astimezone(clinic.zone).date(), query.today)
        while len(found) < count and first <= query.last_day:
            last = min(first + timedelta(days=NEXT_CHUNK_DAYS - 1), query.last_day)
            schedule = await self._schedule(clinic, query, first, last)
            found += slots_after(query, schedule, after, first, (last - first).days + 1)
            first = last + timedelta(days=1)
        return tuple(found[:count])

    async def hold(self, clinic: Clinic, wanted: HoldAsk) -> Hold:
        """Hold the slot at `wanted.start`: 409 `slot_unavailable` with the next three if taken.

        The visit may start at any minute the rules allow (on the grid or not); without a
        column asked for, it takes the first free one in the columns' natural order.
        """
        now = utc(self._now())
        ttl, reference = check_ttl(wanted.ttl_seconds), check_reference(wanted.reference)
        rules = (await self.booking.get(clinic.id)).rules
        query = await self._query(clinic, rules, wanted.ask, now)
        start = utc(wanted.start)
        end = start + query.duration
        new = NewHold(
            start, end, start - rules.buffer_before, end + rules.buffer_after, now + ttl, reference
        )
        reach = rules.buffer_before + rules.buffer_after
        placed = await self.holds.place(
            clinic_id=clinic.id,
            hold=new,
            window=(new.busy_from - reach, new.busy_until + reach),
            fits=lambda schedule: free_at(query, schedule, start),
            now=now,
        )
        if placed is None:
            why = rules_refuse(query, start) or "another appointment, block or hold takes it"
            column = f" on column {wanted.ask.resource_ids[0]}" if wanted.ask.resource_ids else ""
            minutes = round(query.duration.total_seconds() / 60)
            # From the mirror as it is: a hold follows an answer that refreshed it.
            alternatives = await self._slots_after(clinic, query, start, ALTERNATIVES)
            raise SlotUnavailableError(
                f"{start.astimezone(clinic.zone).isoformat()} cannot be held for a "
                f"{minutes}-minute visit{column}: {why}",
                alternatives=alternatives,
            )
        return placed

    async def alternatives(self, clinic: Clinic, ask: Ask, after: datetime) -> tuple[FreeSlot, ...]:
        """The next free slots at or after `after`, from the mirror as it is (no refresh)."""
        now = utc(self._now())
        rules = (await self.booking.get(clinic.id)).rules
        query = await self._query(clinic, rules, ask, now)
        return await self._slots_after(clinic, query, max(utc(after), now), ALTERNATIVES)

    async def still_free(self, clinic: Clinic, hold: Hold, ask: Ask) -> bool:
        """Whether a held slot is free on its column in the mirror, that hold apart.

        Asked by a booking right after it wrote a fresh read of the day to the mirror.
        """
        now = utc(self._now())
        rules = (await self.booking.get(clinic.id)).rules
        query = await self._query(
            clinic, rules, replace(ask, resource_ids=(hold.resource_id,)), now
        )
        reach = rules.buffer_before + rules.buffer_after
        start, end = hold.busy_from - reach, hold.busy_until + reach
        entries = await self.mirror.entries_between(clinic_id=clinic.id, start=start, end=end)
        live = await self.holds.live_between(clinic_id=clinic.id, start=start, end=end, now=now)
        others = [held for held in live if held != hold.held_time]
        schedule = Schedule(entries=entries, holds=others)
        return hold.resource_id in free_at(query, schedule, hold.start)

    async def release(self, clinic: Clinic, hold_id: UUID) -> tuple[Hold, HoldState]:
        """End a hold; the hold and what it was before (live, expired or already released)."""
        now = utc(self._now())
        found = await self.holds.get(clinic_id=clinic.id, hold_id=hold_id)
        if found is None:
            raise HoldNotFoundError(f"Hold not found: {hold_id}")
        released = await self.holds.release(clinic_id=clinic.id, hold_id=hold_id, now=now)
        return released or found, found.state(now)

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
        held = await self.holds.live_between(
            clinic_id=clinic.id, start=start, end=end, now=query.now
        )
        return Schedule(entries=entries, holds=held)

    async def _fresh(
        self, clinic: Clinic, rules: BookingRules, first: date, last: date, now: datetime
    ) -> Freshness:
        """The mirror's freshness over the days, read again first when it is too old."""
        before = await self._freshness(clinic, rules, first, last, now)
        days = _bookable(rules, first, last, now.astimezone(clinic.zone).date())
        if before.status == FRESH or self._refresher is None or days is None:
            return before
        outcome = await self._refresher.refresh(clinic, *days, since=now)
        after = await self._freshness(clinic, rules, first, last, utc(self._now()))
        if await self._refresher.read_since(clinic, *days, since=now):
            joined = f"joined the clinic's run {outcome.sync_id}" if outcome.joined else None
            return replace(after, status=REFRESHED, sync_id=outcome.sync_id, detail=joined)
        why = outcome.detail or "the inbound run did not read every asked day"
        return replace(after, status=STALE, sync_id=outcome.sync_id, detail=why)

    async def _freshness(
        self, clinic: Clinic, rules: BookingRules, first: date, last: date, now: datetime
    ) -> Freshness:
        """The age of the mirror over the bookable part of [first, last]."""
        days = _bookable(rules, first, last, now.astimezone(clinic.zone).date())
        if days is None:
            return Freshness(FRESH, detail="no bookable day asked: nothing to read")
        first, last = days
        read = await self.mirror.synced_days(clinic_id=clinic.id, first=first, last=last)
        if len(read) < (last - first).days + 1:
            return Freshness(STALE, detail=_never_read(first, last, read))
        oldest = min(read.values())
        age = max(0, round((now - oldest).total_seconds()))
        return Freshness(FRESH if age <= self._max_age else STALE, oldest, age)


def _bookable(
    rules: BookingRules, first: date, last: date, today: date
) -> tuple[date, date] | None:
    """The part of [first, last] the clinic books (today to its horizon), if any."""
    first, last = max(first, today), min(last, today + timedelta(days=rules.max_days_ahead))
    return (first, last) if first <= last else None


def _never_read(first: date, last: date, read: Sequence[date] | dict[date, datetime]) -> str:
    missing = [first + timedelta(days=n) for n in range((last - first).days + 1)]
    missing = [day for day in missing if day not in read]
    return f"the PIMS calendar of {missing[0]} was never read" + (
        f" (nor of {len(missing) - 1} more day(s))" if len(missing) > 1 else ""
    )
