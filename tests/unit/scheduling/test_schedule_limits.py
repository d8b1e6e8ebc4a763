"""Schedule limits (issue 20, items 2 and 3): short crons, a minimum interval, parsed once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest
from croniter import croniter

from pims_sync.adapters.memory.schedules import (
    MemoryFireStore,
    MemoryRunRecovery,
    MemoryScheduleStore,
)
from pims_sync.adapters.memory.stores import MemoryRunStore
from pims_sync.domain.schedules import (
    MAX_CRON_LENGTH,
    ScheduleRules,
    compiled_cron,
    longest_interval,
    parse_schedule,
    parse_schedules,
    shortest_interval,
    validate_cron,
)
from pims_sync.errors import ScheduleError
from pims_sync.ports.queue import SyncJob
from pims_sync.scheduling.scheduler import Scheduler, SchedulerOptions

NOW = datetime(2026, 6, 1, 13, 0, 30, tzinfo=UTC)
# What the attack stored: a valid cron of half a megabyte (one minute listed many times).
HUGE_CRON = ",".join(["0"] * 200_000) + " 6 * * *"


@pytest.mark.parametrize(
    ("cron", "seconds"),
    [
        ("0 6 * * *", 24 * 3600),
        ("* * * * *", 60),
        ("*/5 * * * *", 300),
        ("0,59 * * * *", 60),  # 00:59 → 01:00
        ("0,58 * * * *", 120),
        ("0 0,23 * * *", 3600),  # 23:00 → 00:00 the next day
        ("59 23 * * *", 24 * 3600),
        ("0,59 0,23 * * *", 60),  # 23:59 → 00:00 the next day (assumed to fire)
        ("* * * * * *", 1),
        ("*/10 * * * * *", 10),
        ("0 */5 * * * *", 300),
        ("30,50 0 6 * * *", 20),
        ("0,50 0,1 6 * * *", 10),  # 06:00:50 → 06:01:00
        ("0 9-17/2 * * 1-5", 2 * 3600),
    ],
)
def test_the_shortest_interval_of_a_cron(cron: str, seconds: int) -> None:
    assert shortest_interval(cron) == timedelta(seconds=seconds)
    # Cross-checked with croniter's own fire times over two days.
    start = datetime(2026, 1, 5, tzinfo=UTC)
    times = croniter(cron, start, second_at_beginning=len(cron.split()) == 6)
    fired = [times.get_next(datetime) for _ in range(200)]
    assert min(b - a for a, b in pairwise(fired)) >= timedelta(seconds=seconds)


def test_a_cron_is_at_most_100_characters_and_never_echoed() -> None:
    with pytest.raises(ScheduleError) as refused:
        validate_cron(HUGE_CRON)
    assert str(refused.value) == f"cron is longer than {MAX_CRON_LENGTH} characters"
    assert validate_cron("0 6 * * 1-5") == "0 6 * * 1-5"


def test_a_field_lists_at_most_24_items() -> None:
    hours = ",".join(str(h) for h in range(24))
    assert validate_cron(f"0 {hours} * * *")
    with pytest.raises(ScheduleError, match="lists more than 24 items"):
        validate_cron("0,1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24 6 * * *")


def test_the_minimum_interval_and_the_seconds_field_are_rules() -> None:
    every_minute = {"type": "inbound", "cron": "* * * * *"}
    with pytest.raises(ScheduleError, match="fires 60 s apart; schedules may fire at most every"):
        parse_schedule(every_minute)
    assert parse_schedule(every_minute, ScheduleRules(60)).cron == "* * * * *"
    seconds = {"type": "inbound", "cron": "0 */5 * * * *"}
    assert parse_schedule(seconds).cron == "0 */5 * * * *"
    with pytest.raises(ScheduleError, match="seconds field"):
        parse_schedule(seconds, ScheduleRules(allow_seconds=False))


def test_too_many_entries_are_not_read() -> None:
    parsed = parse_schedules([{"type": "inbound", "cron": "0 6 * * *"}] * 17)
    assert parsed.schedules == ()
    assert str(parsed.problems[0]) == "sync_schedules has 17 entries; at most 16 are read"


class Queue:
    def __init__(self) -> None:
        self.jobs: list[SyncJob] = []

    async def enqueue(self, job: SyncJob) -> None:
        self.jobs.append(job)

    async def recover_stalled(self) -> list[SyncJob]:
        return []


class Expansions:
    """Counts croniter's parses of an expression (its `_expand`)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.count = 0
        original = croniter._expand.__func__  # type: ignore[attr-defined]

        def counted(cls: type[croniter], *args: object, **kwargs: object) -> object:
            self.count += 1
            return original(cls, *args, **kwargs)

        monkeypatch.setattr(croniter, "_expand", classmethod(counted))


async def test_ticks_never_parse_again_and_a_stored_huge_cron_costs_nothing(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clinic, attacker = uuid.uuid4(), uuid.uuid4()
    store = MemoryScheduleStore()
    store.add_clinic(clinic, timezone="America/Los_Angeles")
    store.add_clinic(attacker, timezone="America/Los_Angeles")
    # Parsed crons are cached per process: start from none, whatever ran before here.
    compiled_cron.cache_clear()
    longest_interval.cache_clear()
    cron = f"{uuid.uuid4().int % 60} 7 * * *"
    await store.put(clinic, [{"type": "inbound", "cron": cron}])
    # Written before the limits existed (or straight into the table): it is refused unread.
    await store.put(attacker, [{"type": "full", "cron": HUGE_CRON}])
    expansions, queue, now = Expansions(monkeypatch), Queue(), [NOW]
    scheduler = Scheduler(
        schedules=store,
        fires=MemoryFireStore(),
        runs=MemoryRunStore(),
        queue=queue,
        recovery=MemoryRunRecovery(),
        now=lambda: now[0],
        options=SchedulerOptions(rules=ScheduleRules()),
    )
    await scheduler.tick()
    assert expansions.count == 1  # the clinic's cron, once; the huge one never reached croniter
    for _ in range(5):
        now[0] += timedelta(seconds=15)
        await scheduler.tick()
    assert expansions.count == 1
    await store.put(clinic, [{"type": "inbound", "cron": f"{cron[:-1]}1-5"}])
    await scheduler.tick()
    assert expansions.count == 2  # a changed schedule is parsed again, once
    assert queue.jobs == []


async def test_a_stored_schedule_faster_than_the_minimum_never_fires() -> None:
    clinic = uuid.uuid4()
    store = MemoryScheduleStore()
    store.add_clinic(clinic, timezone="America/Los_Angeles")
    await store.put(clinic, [{"type": "full", "cron": "* * * * * *"}])
    queue, fires = Queue(), MemoryFireStore()
    scheduler = Scheduler(
        schedules=store,
        fires=fires,
        runs=MemoryRunStore(),
        queue=queue,
        recovery=MemoryRunRecovery(),
        now=lambda: NOW,
    )
    await scheduler.tick()
    assert (queue.jobs, fires.all) == ([], [])
