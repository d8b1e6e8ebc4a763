"""Progress of a run: written to its audit row at most once a second, always at 100 %."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from uuid import UUID

from pims_sync.ports.store import RunStore

PROGRESS_INTERVAL_SECONDS = 1.0


@dataclass(frozen=True, slots=True)
class Progress:
    """One progress reading."""

    processed: int
    total: int

    @property
    def percentage(self) -> int:
        """Whole percent done (100 when there is nothing to do)."""
        if self.total <= 0:
            return 100
        return min(100, self.processed * 100 // self.total)


class ProgressReporter:
    """Throttles progress writes: the first, then one per interval, and every 100 %."""

    def __init__(
        self,
        *,
        runs: RunStore,
        run_id: UUID,
        now: Callable[[], datetime],
        on_write: Callable[[Progress], Awaitable[None]] | None = None,
        clock: Callable[[], float] = time.monotonic,
        interval: float = PROGRESS_INTERVAL_SECONDS,
    ) -> None:
        self._runs = runs
        self._run_id = run_id
        self._now = now
        self._on_write = on_write
        self._clock = clock
        self._interval = interval
        self._last_write: float | None = None
        self._pending: Progress | None = None
        self.last: Progress | None = None
        self.writes = 0

    async def update(self, processed: int, total: int) -> None:
        """Record progress; written now unless the last write is under an interval old."""
        reading = Progress(processed, total)
        due = self._last_write is None or self._clock() - self._last_write >= self._interval
        if due or reading.percentage == 100:
            await self._write(reading)
        else:
            self._pending = reading

    async def flush(self) -> None:
        """Write the latest reading held back by the throttle, if any."""
        if self._pending is not None:
            await self._write(self._pending)

    async def complete(self, total: int) -> None:
        """Write 100 % (every phase ends there, whatever it processed)."""
        self._pending = None
        last = self.last
        if last is None or last.percentage != 100 or last.total != total:
            await self._write(Progress(total, total))

    async def _write(self, reading: Progress) -> None:
        self._pending = None
        self._last_write = self._clock()
        self.last = reading
        self.writes += 1
        await self._runs.progress(
            run_id=self._run_id,
            total_items=reading.total,
            processed_items=reading.processed,
            percentage=reading.percentage,
            at=self._now(),
        )
        if self._on_write is not None:
            await self._on_write(reading)
