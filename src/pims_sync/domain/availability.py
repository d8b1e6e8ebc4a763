"""Free slots: the clinic's booking rules applied to the schedule mirror and the live holds.

Pure: no clock, no I/O (docs/availability.md#how-slots-are-computed). A slot starts on the
clinic's grid (every `slotMinutes` from the start of each opening interval, in true
time, so a DST day has the right number of slots) and is free on a column when:

- the visit `[start, start + duration)` lies inside one opening interval of its day (and,
  when rosters define who works, inside one of the column's rosters);
- the visit with the clinic's buffers around it, `[start - before, end + after)`,
  overlaps no live appointment with its buffers, no block, and no live hold (a hold
  keeps the buffers it was placed with); an event without a column holds every column;
- it starts no sooner than `now + minNoticeMinutes`, on a day no later than
  `today + maxDaysAhead` (clinic days).

Times come back in the clinic's zone, so each carries the offset of its own instant.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pims_sync.domain.booking import BookingRules, Opening, resource_order, sorted_resources
from pims_sync.domain.instants import utc
from pims_sync.domain.mirror import EntryKind, MirrorEntry
from pims_sync.errors import InvalidInputError

Span = tuple[datetime, datetime]


@dataclass(frozen=True, slots=True)
class HeldTime:
    """A live hold's time on its column, buffers included."""

    resource_id: str
    busy_from: datetime
    busy_until: datetime


@dataclass(frozen=True, slots=True)
class Schedule:
    """What the mirror's live entries and the live holds say over a window."""

    entries: Sequence[MirrorEntry] = ()
    holds: Sequence[HeldTime] = ()


@dataclass(frozen=True, slots=True)
class SlotQuery:
    """What is asked: the rules, the clinic's zone, the visit's length, now, the columns."""

    rules: BookingRules
    zone: ZoneInfo
    duration: timedelta
    now: datetime
    resource_ids: tuple[str, ...]

    @property
    def today(self) -> date:
        """The clinic's date now."""
        return self.now.astimezone(self.zone).date()

    @property
    def last_day(self) -> date:
        """The last clinic day that may be booked."""
        return self.today + timedelta(days=self.rules.max_days_ahead)

    @property
    def earliest(self) -> datetime:
        """The first bookable start: now plus the minimum notice."""
        return utc(self.now) + self.rules.min_notice


@dataclass(frozen=True, slots=True)
class FreeSlot:
    """A start the clinic can take the visit at, and on which columns (clinic-zone times)."""

    start: datetime
    end: datetime
    resource_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DaySlots:
    """One clinic day's free slots, in time order."""

    day: date
    slots: tuple[FreeSlot, ...]


def bookable_resources(
    rules: BookingRules, known: Sequence[str], wanted: Sequence[str] = ()
) -> tuple[str, ...]:
    """The columns to look at: the rules' bookable ones (else every known one), or those asked.

    A column asked for that the rules do not list is refused (InvalidInputError); with no
    list in the rules any column may be asked for, seen in the mirror or not.
    """
    if rules.bookable_resource_ids:
        refused = [r for r in wanted if r not in rules.bookable_resource_ids]
        if refused:
            listed = ", ".join(rules.bookable_resource_ids)
            raise InvalidInputError(
                f"resource {refused[0][:64]} is not bookable at this clinic (bookable: {listed})"
            )
        base: Sequence[str] = rules.bookable_resource_ids
    else:
        base = known
    return tuple(sorted_resources(wanted or base))


def _instant(day: date, minutes: int, zone: ZoneInfo) -> datetime:
    """A wall-clock minute of a clinic day as a true instant (24:00 is the next midnight)."""
    extra, minutes = divmod(minutes, 24 * 60)
    local = datetime.combine(day + timedelta(days=extra), time(minutes // 60, minutes % 60))
    return local.replace(tzinfo=zone).astimezone(UTC)


def opening_spans(rules: BookingRules, day: date, zone: ZoneInfo) -> list[Span]:
    """The day's opening intervals as instants."""
    return [_spans(opening, day, zone) for opening in rules.opening_on(day)]


def _spans(opening: Opening, day: date, zone: ZoneInfo) -> Span:
    return _instant(day, opening.start, zone), _instant(day, opening.end, zone)


def _merged(spans: Iterable[Span]) -> list[Span]:
    """Overlapping or touching spans joined, in order."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


@dataclass
class _Column:
    """One column's busy time (merged) and, if they matter, its rosters (merged)."""

    busy: list[Span] = field(default_factory=list)
    rosters: list[Span] = field(default_factory=list)
    busy_starts: list[datetime] = field(default_factory=list)

    def seal(self) -> None:
        self.busy, self.rosters = _merged(self.busy), _merged(self.rosters)
        self.busy_starts = [start for start, _ in self.busy]

    def clear(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) meets no busy span."""
        index = bisect_right(self.busy_starts, start) - 1
        if index >= 0 and self.busy[index][1] > start:
            return False
        following = index + 1
        return following >= len(self.busy) or self.busy[following][0] >= end

    def rostered(self, start: datetime, end: datetime) -> bool:
        """Whether [start, end) lies inside one roster."""
        return any(first <= start and end <= last for first, last in self.rosters)


class _Board:
    """The busy time of every column asked about, ready for many questions."""

    def __init__(self, query: SlotQuery, schedule: Schedule) -> None:
        self.query = query
        self.columns = {resource: _Column() for resource in query.resource_ids}
        rules = query.rules
        self.before, self.after = rules.buffer_before, rules.buffer_after
        self.rostered = rules.rosters_define_working
        for entry in schedule.entries:
            if entry.cancelled:
                continue
            span = (utc(entry.starts_at), utc(entry.ends_at))
            if entry.kind is EntryKind.ROSTER:
                self._add(entry.resource_id, span, roster=True)
            elif entry.kind is EntryKind.BLOCK:
                self._add(entry.resource_id, span)
            else:
                self._add(
                    entry.resource_id, (span[0] - rules.buffer_before, span[1] + rules.buffer_after)
                )
        for hold in schedule.holds:
            self._add(hold.resource_id, (utc(hold.busy_from), utc(hold.busy_until)))
        for column in self.columns.values():
            column.seal()

    def _add(self, resource: str | None, span: Span, *, roster: bool = False) -> None:
        if roster:
            if resource in self.columns:
                self.columns[resource].rosters.append(span)
            return
        # An event without a column may be anywhere: it holds every column.
        targets = self.columns.values() if resource is None else [self.columns.get(resource)]
        for column in targets:
            if column is not None:
                column.busy.append(span)

    def free_columns(self, start: datetime) -> tuple[str, ...]:
        """The columns where a visit starting at `start` (an instant) fits."""
        end = start + self.query.duration
        first, last = start - self.before, end + self.after
        return tuple(
            resource
            for resource, column in self.columns.items()
            if column.clear(first, last) and (not self.rostered or column.rostered(start, end))
        )


def _slot(query: SlotQuery, start: datetime, free: tuple[str, ...]) -> FreeSlot:
    zone = query.zone
    return FreeSlot(start.astimezone(zone), (start + query.duration).astimezone(zone), free)


def _day_slots(query: SlotQuery, board: _Board, day: date) -> tuple[FreeSlot, ...]:
    if not query.today <= day <= query.last_day:
        return ()
    step, found = timedelta(minutes=query.rules.slot_minutes), []
    earliest = query.earliest
    for opened, closed in opening_spans(query.rules, day, query.zone):
        start = opened
        while start + query.duration <= closed:
            if start >= earliest and (free := board.free_columns(start)):
                found.append(_slot(query, start, free))
            start += step
    return tuple(sorted(found, key=lambda slot: slot.start))


def free_slots(query: SlotQuery, schedule: Schedule, first: date, days: int) -> list[DaySlots]:
    """Each day's free slots, from `first` for `days` clinic days."""
    board = _Board(query, schedule)
    return [
        DaySlots(day, _day_slots(query, board, day))
        for day in (first + timedelta(days=n) for n in range(days))
    ]


def slots_after(
    query: SlotQuery, schedule: Schedule, after: datetime, first: date, days: int
) -> list[FreeSlot]:
    """The free slots of these days that start at or after `after`, in time order."""
    found = [slot for day in free_slots(query, schedule, first, days) for slot in day.slots]
    return [slot for slot in found if slot.start >= after]


def rules_refuse(query: SlotQuery, start: datetime) -> str | None:
    """Why the rules alone refuse a visit at `start` (None: they allow it)."""
    start = utc(start)
    day, rules = start.astimezone(query.zone).date(), query.rules
    if start < query.earliest:
        return f"it is inside the clinic's minimum notice of {rules.min_notice_minutes} minutes"
    if day > query.last_day:
        return f"it is past the {rules.max_days_ahead} days the clinic books ahead"
    end = start + query.duration
    spans = opening_spans(rules, day, query.zone)
    if not any(opened <= start and end <= closed for opened, closed in spans):
        return "the clinic is not open for the whole visit then"
    return None


def free_at(query: SlotQuery, schedule: Schedule, start: datetime) -> tuple[str, ...]:
    """The columns a visit starting at `start` (any minute, on the grid or not) fits on."""
    start = utc(start)
    if rules_refuse(query, start) is not None:
        return ()
    free = _Board(query, schedule).free_columns(start)
    return tuple(sorted(free, key=resource_order))
