"""The clinic page's timeline bars: placed by start, sized by duration, never off the edge."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from pims_sync.api.dashboard.timeline import MIN_BAR, WIDTH, timeline_bars
from pims_sync.domain.runs import RunRecord, RunStatus, SyncType, Trigger

START = datetime(2026, 6, 1, tzinfo=UTC)
END = START + timedelta(days=7)


def run(at: datetime, seconds: float | None) -> RunRecord:
    done = None if seconds is None else at + timedelta(seconds=seconds)
    status = RunStatus.IN_PROGRESS if done is None else RunStatus.COMPLETED
    return RunRecord(
        uuid.uuid4(), uuid.uuid4(), SyncType.FULL, status, Trigger.API, at, completed_at=done
    )


def test_bars_are_placed_by_start_and_sized_by_duration() -> None:
    middle, long = run(START + timedelta(days=3.5), 3600 * 24), run(START, 3600 * 12)
    bars = timeline_bars([long, middle], START, END)
    assert bars[0].x == 0
    assert bars[1].x == WIDTH / 2
    assert bars[1].width == round(WIDTH / 7, 1)
    assert bars[0].width == round(WIDTH / 14, 1)


def test_a_short_last_run_stays_visible_and_a_running_one_reaches_now() -> None:
    last = run(END - timedelta(seconds=5), 2)
    running = run(END - timedelta(hours=24), None)
    short, live = timeline_bars([last, running], START, END)
    assert short.width == MIN_BAR
    assert short.x + short.width <= WIDTH
    assert live.seconds is None
    assert live.x + live.width == WIDTH
