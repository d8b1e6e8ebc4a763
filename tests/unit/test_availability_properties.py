"""Free slots against a minute-by-minute oracle, for random schedules, rules and holds.

For every answer: no slot overlaps an appointment, block or hold of its column (buffers
included), lies outside opening hours (or the column's rosters, when they count), or
inside the minimum notice or past the horizon; every grid start that is free on some
column is there, with exactly the free columns (nothing free is hidden); and each time
carries the offset of its own instant, on days across a DST change too (including Lord
Howe's half-hour change).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pims_sync.domain.availability import (
    FreeSlot,
    HeldTime,
    Schedule,
    SlotQuery,
    free_at,
    free_slots,
)
from pims_sync.domain.booking import BookingRules, Opening, resource_order
from pims_sync.domain.mirror import EntryKind, MirrorEntry

ZONES = ("America/Los_Angeles", "Europe/London", "Australia/Lord_Howe", "UTC")
# Days on or next to a DST change in one of the zones (2026).
DAYS = (
    date(2026, 3, 8),
    date(2026, 11, 1),
    date(2026, 3, 29),
    date(2026, 10, 25),
    date(2026, 4, 5),
    date(2026, 10, 4),
    date(2026, 6, 17),
)
RESOURCES = ("6", "7", "10")
MINUTE = timedelta(minutes=1)


@st.composite
def openings(draw: st.DrawFn) -> tuple[Opening, ...]:
    """0 to 3 intervals of a day, apart from each other; sometimes the whole day."""
    if draw(st.booleans()) and draw(st.booleans()):
        return (Opening(0, 24 * 60),)
    cuts = sorted(draw(st.sets(st.integers(0, 288).map(lambda n: n * 5), max_size=6)))
    pairs = [(cuts[i], cuts[i + 1]) for i in range(0, len(cuts) - 1, 2)]
    return tuple(Opening(start, end) for start, end in pairs if end > start)


@st.composite
def rules(draw: st.DrawFn, first: date) -> BookingRules:
    exceptions = {}
    if draw(st.booleans()):
        exceptions[first + timedelta(days=draw(st.integers(0, 3)))] = draw(openings())
    return BookingRules(
        hours={day: draw(openings()) for day in range(7)},
        exceptions=exceptions,
        slot_minutes=draw(st.sampled_from([5, 10, 15, 20, 30, 45, 60])),
        buffer_before_minutes=draw(st.sampled_from([0, 0, 5, 10, 15])),
        buffer_after_minutes=draw(st.sampled_from([0, 0, 5, 10, 30])),
        min_notice_minutes=draw(st.integers(0, 600)),
        max_days_ahead=draw(st.integers(1, 5)),
        rosters_define_working=draw(st.booleans()),
    )


@st.composite
def entries(draw: st.DrawFn, start: datetime, minutes: int) -> list[MirrorEntry]:
    found = []
    for number in range(draw(st.integers(0, 30))):
        at = start + timedelta(minutes=draw(st.integers(-120, minutes)))
        kind = draw(st.sampled_from(list(EntryKind)))
        length = draw(st.integers(5, 600 if kind is EntryKind.ROSTER else 240))
        found.append(
            MirrorEntry(
                external_id=str(number),
                kind=kind,
                starts_at=at,
                ends_at=at + timedelta(minutes=length),
                resource_id=draw(st.sampled_from([*RESOURCES, "99", None])),
                status=draw(st.sampled_from(["Scheduled", "Cancelled", None])),
            )
        )
    return found


@st.composite
def cases(draw: st.DrawFn) -> tuple[SlotQuery, Schedule, date, int]:
    zone = ZoneInfo(draw(st.sampled_from(ZONES)))
    first = draw(st.sampled_from(DAYS)) - timedelta(days=draw(st.integers(0, 2)))
    days = draw(st.integers(1, 4))
    start = datetime.combine(first, datetime.min.time(), tzinfo=zone).astimezone(UTC)
    minutes = days * 24 * 60
    now = start + timedelta(minutes=draw(st.integers(-3 * 24 * 60, minutes // 2)))
    drawn = draw(st.lists(st.sampled_from(RESOURCES), min_size=1, max_size=3, unique=True))
    columns = tuple(sorted(drawn, key=resource_order))
    holds = [
        HeldTime(
            draw(st.sampled_from(columns)),
            (at := start + timedelta(minutes=draw(st.integers(0, minutes)))),
            at + timedelta(minutes=draw(st.integers(5, 180))),
        )
        for _ in range(draw(st.integers(0, 5)))
    ]
    query = SlotQuery(
        rules=draw(rules(first)),
        zone=zone,
        duration=timedelta(minutes=draw(st.sampled_from([15, 30, 45, 60, 90]))),
        now=now,
        resource_ids=columns,
    )
    schedule = Schedule(entries=draw(entries(start, minutes)), holds=holds)
    return query, schedule, first, days


class Oracle:
    """The same rules, minute by minute, written without the implementation's shortcuts."""

    def __init__(self, query: SlotQuery, schedule: Schedule) -> None:
        self.query, rules = query, query.rules
        self.busy = {r: set[int]() for r in query.resource_ids}
        self.rosters = {r: set[int]() for r in query.resource_ids}
        for entry in schedule.entries:
            if entry.status == "Cancelled":
                continue
            start, end = entry.starts_at, entry.ends_at
            if entry.kind is EntryKind.ROSTER:
                if entry.resource_id in self.rosters:
                    self.rosters[entry.resource_id] |= minutes(start, end)
                continue
            if entry.kind is EntryKind.APPOINTMENT:
                start, end = start - rules.buffer_before, end + rules.buffer_after
            for column in self._columns(entry.resource_id):
                self.busy[column] |= minutes(start, end)
        for hold in schedule.holds:
            self.busy[hold.resource_id] |= minutes(hold.busy_from, hold.busy_until)

    def _columns(self, resource: str | None) -> list[str]:
        if resource is None:
            return list(self.busy)
        return [resource] if resource in self.busy else []

    def free(self, start: datetime) -> tuple[str, ...]:
        """The columns free for a visit at `start`, as the rules say."""
        rules, end = self.query.rules, start + self.query.duration
        footprint = minutes(start - rules.buffer_before, end + rules.buffer_after)
        visit = minutes(start, end)
        return tuple(
            column
            for column in self.query.resource_ids
            if not footprint & self.busy[column]
            and (not rules.rosters_define_working or visit <= self.rosters[column])
        )

    def grid(self, day: date) -> list[datetime]:
        """Every start on the day's grid that the notice and the horizon allow."""
        query, zone = self.query, self.query.zone
        today = query.now.astimezone(zone).date()
        if not today <= day <= today + timedelta(days=query.rules.max_days_ahead):
            return []
        starts = []
        for opening in query.rules.opening_on(day):
            opened, closed = wall(day, opening.start, zone), wall(day, opening.end, zone)
            start = opened
            while start + query.duration <= closed:
                if start >= query.now + query.rules.min_notice:
                    starts.append(start)
                start += timedelta(minutes=query.rules.slot_minutes)
        return starts


def minutes(start: datetime, end: datetime) -> set[int]:
    """The whole minutes since the epoch that [start, end) covers."""
    first = int(start.timestamp()) // 60
    return set(range(first, first + int((end - start) / MINUTE)))


def wall(day: date, minute: int, zone: ZoneInfo) -> datetime:
    """A clinic wall-clock minute of `day` as an instant (24:00: the next midnight)."""
    midnight = datetime(day.year, day.month, day.day) + timedelta(minutes=minute)  # noqa: DTZ001 - wall clock
    return midnight.replace(tzinfo=zone).astimezone(UTC)


def offset_is_its_own(slot: FreeSlot, zone: ZoneInfo) -> bool:
    """The text of each time names its instant, with the zone's offset at that instant."""
    for moment in (slot.start, slot.end):
        instant = moment.astimezone(UTC)
        if datetime.fromisoformat(moment.isoformat()) != instant:
            return False
        if moment.utcoffset() != instant.astimezone(zone).utcoffset():
            return False
    return True


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(cases())
def test_slots_are_exactly_the_free_grid_starts(
    case: tuple[SlotQuery, Schedule, date, int],
) -> None:
    query, schedule, first, days = case
    oracle = Oracle(query, schedule)
    answer = free_slots(query, schedule, first, days)
    assert [day.day for day in answer] == [first + timedelta(days=n) for n in range(days)]
    for day in answer:
        expected = {start: oracle.free(start) for start in oracle.grid(day.day)}
        expected = {start: free for start, free in expected.items() if free}
        got = {slot.start.astimezone(UTC): slot.resource_ids for slot in day.slots}
        assert got == expected  # nothing free hidden, nothing busy shown
        for slot in day.slots:
            assert slot.start.astimezone(query.zone).date() == day.day
            # In UTC: Python subtracts two times of one zone as wall-clock times.
            assert slot.end.astimezone(UTC) - slot.start.astimezone(UTC) == query.duration
            assert offset_is_its_own(slot, query.zone)
            assert slot.start.tzinfo == query.zone
        starts = [slot.start for slot in day.slots]
        assert starts == sorted(starts)


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(0, 4 * 24 * 60))
def test_any_minute_is_bookable_exactly_where_the_oracle_says(
    case: tuple[SlotQuery, Schedule, date, int], offset: int
) -> None:
    query, schedule, first, _ = case
    start = wall(first, 0, query.zone) + timedelta(minutes=offset)
    oracle, rules, zone = Oracle(query, schedule), query.rules, query.zone
    day = start.astimezone(zone).date()
    today = query.now.astimezone(zone).date()
    inside = any(
        wall(day, o.start, zone) <= start and start + query.duration <= wall(day, o.end, zone)
        for o in rules.opening_on(day)
    )
    allowed = (
        inside
        and today <= day <= today + timedelta(days=rules.max_days_ahead)
        and start >= query.now + rules.min_notice
    )
    assert free_at(query, schedule, start) == (oracle.free(start) if allowed else ())


LA = ZoneInfo("America/Los_Angeles")


def _all_day(day: date, now: datetime) -> list[FreeSlot]:
    rules = BookingRules(hours={n: (Opening(0, 24 * 60),) for n in range(7)}, slot_minutes=60)
    query = SlotQuery(rules, LA, timedelta(minutes=60), now, ("7",))
    return list(free_slots(query, Schedule(), day, 1)[0].slots)


def test_the_spring_forward_day_has_23_hourly_slots_with_their_offsets() -> None:
    slots = _all_day(date(2026, 3, 8), datetime(2026, 3, 1, tzinfo=UTC))
    assert len(slots) == 23
    texts = [slot.start.isoformat() for slot in slots[:4]]
    assert texts == [
        "2026-03-08T00:00:00-08:00",
        "2026-03-08T01:00:00-08:00",
        "2026-03-08T03:00:00-07:00",  # 02:00 does not exist that night
        "2026-03-08T04:00:00-07:00",
    ]


def test_the_fall_back_day_has_25_hourly_slots_and_1am_twice() -> None:
    slots = _all_day(date(2026, 11, 1), datetime(2026, 10, 25, tzinfo=UTC))
    assert len(slots) == 25
    assert [slot.start.isoformat() for slot in slots[1:4]] == [
        "2026-11-01T01:00:00-07:00",
        "2026-11-01T01:00:00-08:00",
        "2026-11-01T02:00:00-08:00",
    ]
