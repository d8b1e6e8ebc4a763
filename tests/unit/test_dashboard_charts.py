"""The charts' numbers: hourly runs, p50/p95 durations, cases written per day."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pims_sync.adapters.sql.dashboard import RunPoint
from pims_sync.api.dashboard.charts import DAYS, HOURS, daily, hourly, percentile, scale_top

NOW = datetime(2026, 6, 10, 14, 31, tzinfo=UTC)


def point(
    hours_ago: float, seconds: float | None, status: str = "completed", written: int = 0
) -> RunPoint:
    started = NOW - timedelta(hours=hours_ago)
    done = None if seconds is None else started + timedelta(seconds=seconds)
    return RunPoint(started, done, status, written)


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.95) == 95.0
    assert percentile([7.0], 0.95) == 7.0
    assert percentile([], 0.5) is None


def test_runs_fall_in_their_hour_with_failures_and_durations() -> None:
    points = [point(0.1, 10), point(0.2, 30, "failed"), point(0.3, None), point(30, 5)]
    buckets = hourly(points, NOW)
    assert len(buckets) == HOURS
    current = buckets[-1]
    assert current.start == datetime(2026, 6, 10, 14, tzinfo=UTC)
    assert (current.runs, current.failed) == (3, 1)
    assert (current.p50, current.p95) == (10.0, 30.0)  # the running one has no duration yet
    assert sum(b.runs for b in buckets) == 3  # 30 hours ago is outside the chart
    assert buckets[0].p50 is None


def test_cases_written_add_up_per_utc_day() -> None:
    points = [point(1, 5, written=10), point(2, 5, written=5), point(24 * 3, 5, written=7)]
    days = daily(points, NOW)
    assert len(days) == DAYS
    assert days[-1].written == 15
    assert days[-4].written == 7
    assert scale_top([d.written for d in days]) == 15.0
    assert scale_top([0, None]) == 1.0
