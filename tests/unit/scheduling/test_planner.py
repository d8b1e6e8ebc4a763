"""The planner: fire times in the clinic's zone, across DST, with catch-up of missed runs."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import SyncSchedule
from pims_sync.scheduling.planner import due_fires, fire_times, next_fire

LA = ZoneInfo("America/Los_Angeles")
BERLIN = ZoneInfo("Europe/Berlin")


def daily(cron: str, *, enabled: bool = True) -> SyncSchedule:
    return SyncSchedule(SyncType.INBOUND, cron, enabled=enabled)


def local(instants: list[datetime], zone: ZoneInfo) -> list[str]:
    return [i.astimezone(zone).strftime("%m-%d %H:%M %Z") for i in instants]


def test_daily_cron_fires_at_clinic_wall_clock_time() -> None:
    times = fire_times(
        daily("0 6 * * *"), LA, datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 3, tzinfo=UTC)
    )
    assert times == [datetime(2026, 6, 1, 13, tzinfo=UTC), datetime(2026, 6, 2, 13, tzinfo=UTC)]


def test_the_same_cron_follows_each_clinics_zone() -> None:
    window = (datetime(2026, 6, 1, tzinfo=UTC), datetime(2026, 6, 2, tzinfo=UTC))
    assert fire_times(daily("0 6 * * *"), BERLIN, *window) == [datetime(2026, 6, 1, 4, tzinfo=UTC)]


def test_6am_stays_6am_across_spring_forward() -> None:
    times = fire_times(
        daily("0 6 * * *"), LA, datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    )
    assert local(times, LA) == ["03-07 06:00 PST", "03-08 06:00 PDT", "03-09 06:00 PDT"]
    assert times[1] - times[0] == timedelta(hours=23)


def test_a_time_in_the_skipped_hour_fires_once_after_the_jump() -> None:
    times = fire_times(
        daily("30 2 * * *"), LA, datetime(2026, 3, 7, tzinfo=UTC), datetime(2026, 3, 10, tzinfo=UTC)
    )
    assert local(times, LA) == ["03-07 02:30 PST", "03-08 03:30 PDT", "03-09 02:30 PDT"]


def test_hourly_cron_is_not_doubled_by_the_skipped_hour() -> None:
    times = fire_times(
        daily("0 * * * *"),
        LA,
        datetime(2026, 3, 8, 8, 30, tzinfo=UTC),
        datetime(2026, 3, 8, 12, tzinfo=UTC),
    )
    assert local(times, LA) == [
        "03-08 01:00 PST",
        "03-08 03:00 PDT",
        "03-08 04:00 PDT",
        "03-08 05:00 PDT",
    ]


def test_a_time_in_the_repeated_hour_fires_once_at_its_first_occurrence() -> None:
    times = fire_times(
        daily("30 1 * * *"),
        LA,
        datetime(2026, 10, 31, tzinfo=UTC),
        datetime(2026, 11, 3, tzinfo=UTC),
    )
    assert local(times, LA) == ["10-31 01:30 PDT", "11-01 01:30 PDT", "11-02 01:30 PST"]


def test_ticks_inside_the_repeated_hour_do_not_fire_it_again() -> None:
    schedule = daily("30 1 * * *")
    first = datetime(2026, 11, 1, 8, 30, tzinfo=UTC)  # 01:30 PDT
    # Ticks every 15 minutes through both 01:xx hours: the one fire, once.
    ticks = [first - timedelta(minutes=15) + timedelta(minutes=15 * i) for i in range(10)]
    fired = [t for a, b in itertools.pairwise(ticks) for t in fire_times(schedule, LA, a, b)]
    assert fired == [first]


def test_zone_without_dst_and_half_hour_offsets() -> None:
    times = fire_times(
        daily("0 6 * * *"),
        ZoneInfo("Asia/Kolkata"),
        datetime(2026, 3, 8, tzinfo=UTC),
        datetime(2026, 3, 9, tzinfo=UTC),
    )
    assert times == [datetime(2026, 3, 8, 0, 30, tzinfo=UTC)]


def test_window_is_open_at_the_start_closed_at_the_end() -> None:
    at = datetime(2026, 6, 1, 13, tzinfo=UTC)
    assert fire_times(daily("0 6 * * *"), LA, at, at + timedelta(hours=1)) == []
    assert fire_times(daily("0 6 * * *"), LA, at - timedelta(seconds=1), at) == [at]


def test_disabled_schedules_are_not_due() -> None:
    now = datetime(2026, 6, 1, 13, 0, 5, tzinfo=UTC)
    due = due_fires([daily("0 6 * * *", enabled=False)], LA, now - timedelta(minutes=1), now)
    assert due == []
    assert next_fire(daily("0 6 * * *", enabled=False), LA, now) is None


def test_missed_fire_times_run_once_the_latest_within_the_hour() -> None:
    schedule = SyncSchedule(SyncType.CASES, "*/15 * * * *")
    now = datetime(2026, 6, 1, 13, 5, tzinfo=UTC)
    [fire] = due_fires([schedule], LA, now - timedelta(hours=5), now)
    assert fire.fire_at == datetime(2026, 6, 1, 13, 0, tzinfo=UTC)
    # Older than an hour: not caught up, not even reported.
    assert fire.missed == (
        datetime(2026, 6, 1, 12, 15, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 30, tzinfo=UTC),
        datetime(2026, 6, 1, 12, 45, tzinfo=UTC),
    )


def test_a_fire_older_than_the_catch_up_limit_is_dropped() -> None:
    now = datetime(2026, 6, 1, 15, tzinfo=UTC)  # 08:00 in LA; 06:00 was two hours ago
    assert due_fires([daily("0 6 * * *")], LA, now - timedelta(hours=3), now) == []
    assert due_fires([daily("0 6 * * *")], LA, now - timedelta(hours=3), now, timedelta(hours=3))


def test_seconds_extension_fires_every_ten_seconds() -> None:
    start = datetime(2026, 6, 1, 12, tzinfo=UTC)
    times = fire_times(daily("*/10 * * * * *"), LA, start, start + timedelta(minutes=1))
    assert len(times) == 6
    assert times[0] == start + timedelta(seconds=10)


@pytest.mark.parametrize(
    ("after", "expected"),
    [
        (datetime(2026, 6, 1, 12, tzinfo=UTC), datetime(2026, 6, 1, 13, tzinfo=UTC)),
        (datetime(2026, 3, 8, 9, tzinfo=UTC), datetime(2026, 3, 8, 13, tzinfo=UTC)),
    ],
)
def test_next_fire(after: datetime, expected: datetime) -> None:
    assert next_fire(daily("0 6 * * *"), LA, after) == expected


def test_next_fire_of_an_impossible_date_is_none() -> None:
    assert next_fire(daily("0 0 30 2 *"), LA, datetime(2026, 6, 1, tzinfo=UTC)) is None


def test_naive_datetimes_are_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        fire_times(daily("0 6 * * *"), LA, datetime(2026, 6, 1), datetime(2026, 6, 2))  # noqa: DTZ001
