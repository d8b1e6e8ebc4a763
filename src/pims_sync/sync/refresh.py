"""Reading the asked days again before an availability answer: run or join an inbound sync.

One run per clinic holds here too: when the clinic has a run going (a schedule's, another
caller's refresh, on any process), the refresh waits for it, then looks whether the asked
days were read meanwhile; if not, it starts its own inbound run of those days. Whatever
happens, it returns by the deadline: a run still going when it passes goes on and is
recorded (docs/availability.md#freshness-before-answering).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pims_sync.domain.clinics import Clinic
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.errors import PimsSyncError, RunInProgressError
from pims_sync.ports.mirror import ScheduleMirror
from pims_sync.ports.store import RunStore
from pims_sync.sync.service import SyncRequest, SyncService

log = logging.getLogger(__name__)

# How often a refresh looks whether the run it waits for has ended.
POLL_SECONDS = 0.1


@dataclass(frozen=True, slots=True)
class Refresh:
    """What trying to read the days again came to: a run (started or joined), or why not."""

    sync_id: str | None = None
    joined: bool = False
    detail: str | None = None


class MirrorRefresher:
    """Runs or joins an inbound sync of some days of a clinic, bounded by a deadline."""

    def __init__(
        self,
        *,
        sync: Callable[[], SyncService],
        runs: RunStore,
        mirror: ScheduleMirror,
        deadline_seconds: float,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self._sync = sync  # built on first use: it needs the PIMS provider and the vault
        self._runs = runs
        self._mirror = mirror
        self._deadline = deadline_seconds
        self._poll = poll_seconds

    async def refresh(self, clinic: Clinic, first: date, last: date, since: datetime) -> Refresh:
        """Have [first, last] read from the PIMS after `since`, or say why not by the deadline."""
        deadline = time.monotonic() + self._deadline
        joined: str | None = None
        while True:
            try:
                started = await self._start(clinic, first, last)
            except RunInProgressError as busy:
                joined = str(busy.run_id) if busy.run_id is not None else None
                if not await self._wait_for_end(clinic, deadline):
                    return Refresh(joined, True, f"the clinic's run {joined} did not end in time")
                if await self.read_since(clinic, first, last, since):
                    return Refresh(joined, True)
                continue  # it ended without reading these days: ours now
            except PimsSyncError as error:
                return Refresh(joined, joined is not None, f"no inbound run could start: {error}")
            return await self._await(started, deadline)

    async def read_since(self, clinic: Clinic, first: date, last: date, since: datetime) -> bool:
        """Whether every day of [first, last] was read at or after `since`."""
        read = await self._mirror.synced_days(clinic_id=clinic.id, first=first, last=last)
        days = (last - first).days + 1
        return len(read) == days and all(at >= since for at in read.values())

    async def _start(self, clinic: Clinic, first: date, last: date) -> _Started:
        service = self._sync()
        request = SyncRequest(
            clinic.id, SyncType.INBOUND, Trigger.API, start_date=first, end_date=last
        )
        handle = await service.start(request)
        return _Started(str(handle.run_id), handle.task)

    async def _await(self, started: _Started, deadline: float) -> Refresh:
        """The run's end, or the deadline; the run is never cancelled by this wait."""
        remaining = max(0.0, deadline - time.monotonic())
        try:
            await asyncio.wait_for(asyncio.shield(started.task), remaining)
        except TimeoutError:
            late = f"the inbound run did not end within {self._deadline:g} s; it goes on"
            return Refresh(started.sync_id, detail=late)
        except PimsSyncError as error:
            return Refresh(started.sync_id, detail=f"the inbound run failed: {error}")
        return Refresh(started.sync_id)

    async def _wait_for_end(self, clinic: Clinic, deadline: float) -> bool:
        """Wait until the clinic has no live run (any process's), or the deadline passes."""
        while time.monotonic() < deadline:
            if await self._runs.active(clinic_id=clinic.id) is None:
                return True
            await asyncio.sleep(self._poll)
        return False


@dataclass(frozen=True, slots=True)
class _Started:
    sync_id: str
    task: asyncio.Task[Any]
