"""The clinic page's timeline of runs: one bar per run, placed by start, sized by duration."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from pims_sync.domain.runs import RunRecord

WIDTH = 1000
MIN_BAR = 3.0


@dataclass(frozen=True, slots=True)
class Bar:
    """One run as the SVG draws it (x and width in the 0..WIDTH viewBox)."""

    run: RunRecord
    x: float
    width: float

    @property
    def seconds(self) -> float | None:
        """The run's duration; None while it runs."""
        if self.run.completed_at is None:
            return None
        return (self.run.completed_at - self.run.started_at).total_seconds()


def timeline_bars(runs: Sequence[RunRecord], start: datetime, end: datetime) -> list[Bar]:
    """Bars for the runs between start and end (a running one reaches `end`)."""
    span = (end - start).total_seconds() or 1.0
    bars = []
    for run in runs:
        finished = run.completed_at or end
        # A run of seconds in a week is under a pixel: each bar is at least MIN_BAR wide,
        # moved left if need be so that the latest run stays visible at the right edge.
        width = max(MIN_BAR, (finished - run.started_at).total_seconds() / span * WIDTH)
        x = (run.started_at - start).total_seconds() / span * WIDTH
        x = min(max(0.0, x), WIDTH - width)
        bars.append(Bar(run, round(x, 1), round(width, 1)))
    return bars
