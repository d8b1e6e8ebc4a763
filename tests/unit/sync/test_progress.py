"""The throttled progress reporter: at most once a second, always at 100 %."""

from __future__ import annotations

from datetime import datetime
from uuid import uuid4

from pims_sync.sync.progress import Progress, ProgressReporter

from .conftest import NOW


class Runs:
    def __init__(self) -> None:
        self.writes: list[tuple[int, int, int]] = []

    async def progress(
        self,
        *,
        run_id: object,
        total_items: int,
        processed_items: int,
        percentage: int,
        at: datetime,
    ) -> None:
        self.writes.append((processed_items, total_items, percentage))


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def reporter(runs: Runs, clock: FakeClock) -> ProgressReporter:
    return ProgressReporter(runs=runs, run_id=uuid4(), now=lambda: NOW, clock=clock)  # type: ignore[arg-type]


async def test_writes_at_most_once_a_second_and_always_100() -> None:
    runs, clock = Runs(), FakeClock()
    progress = reporter(runs, clock)
    for processed in range(0, 10):
        await progress.update(processed, 10)
        clock.t += 0.3
    # First write at t=0, then at 1.2 (processed 4), 2.4 (processed 8).
    assert runs.writes == [(0, 10, 0), (4, 10, 40), (8, 10, 80)]
    await progress.update(10, 10)  # 100 % is never held back
    assert runs.writes[-1] == (10, 10, 100)


async def test_flush_writes_the_held_back_reading() -> None:
    runs, clock = Runs(), FakeClock()
    progress = reporter(runs, clock)
    await progress.update(1, 10)
    await progress.update(2, 10)
    await progress.flush()
    assert runs.writes == [(1, 10, 10), (2, 10, 20)]


async def test_complete_always_ends_at_100_once() -> None:
    runs, clock = Runs(), FakeClock()
    progress = reporter(runs, clock)
    await progress.complete(0)
    await progress.complete(0)
    assert runs.writes == [(0, 0, 100)]


def test_percentage_is_floored_and_empty_is_done() -> None:
    assert Progress(2, 3).percentage == 66
    assert Progress(0, 0).percentage == 100
