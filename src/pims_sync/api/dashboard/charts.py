"""The dashboard's charts: runs per hour with p50/p95 durations (24 h), cases written per day.

Pure: buckets and percentiles from run points, and the scale the SVG draws them at.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from pims_sync.adapters.sql.dashboard import RunPoint

HOURS = 24
DAYS = 7


@dataclass(frozen=True, slots=True)
class HourBucket:
    """One hour: how many runs started, how many failed, their p50 and p95 durations."""

    start: datetime
    runs: int
    failed: int
    p50: float | None
    p95: float | None


@dataclass(frozen=True, slots=True)
class DayBucket:
    """One UTC day: cases written (created, updated, enriched, deleted) by its runs."""

    day: datetime
    written: int


def percentile(values: Sequence[float], share: float) -> float | None:
    """The nearest-rank percentile (None of nothing)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


def hourly(points: Sequence[RunPoint], now: datetime) -> list[HourBucket]:
    """The last 24 hours, oldest first, ending with the current hour."""
    first = now.replace(minute=0, second=0, microsecond=0) - timedelta(hours=HOURS - 1)
    started: list[list[RunPoint]] = [[] for _ in range(HOURS)]
    for point in points:
        index = int((point.started_at - first).total_seconds() // 3600)
        if 0 <= index < HOURS:
            started[index].append(point)
    buckets = []
    for index, runs in enumerate(started):
        durations = [
            (p.completed_at - p.started_at).total_seconds() for p in runs if p.completed_at
        ]
        buckets.append(
            HourBucket(
                first + timedelta(hours=index),
                len(runs),
                sum(p.status == "failed" for p in runs),
                percentile(durations, 0.5),
                percentile(durations, 0.95),
            )
        )
    return buckets


def daily(points: Sequence[RunPoint], now: datetime) -> list[DayBucket]:
    """The last 7 UTC days, oldest first, ending today."""
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    first = today - timedelta(days=DAYS - 1)
    written = [0] * DAYS
    for point in points:
        index = (point.started_at - first).days
        if 0 <= index < DAYS:
            written[index] += point.cases_written
    return [DayBucket(first + timedelta(days=i), n) for i, n in enumerate(written)]


def scale_top(values: Sequence[float | int | None]) -> float:
    """The top of an axis: the largest value (1 when all are zero or missing)."""
    return float(max((v for v in values if v is not None), default=0) or 1)
