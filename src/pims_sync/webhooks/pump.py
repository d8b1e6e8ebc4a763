"""The delivery pump: every moment, queue a delivery job for each endpoint with work due.

Whatever commits an event (a run's phase, the API, another process, a `webhook.disabled`
event), the sequence table shows it: an endpoint whose cursor is behind its clinic's last
`seq`, and whose retry (if any) is due, gets a job. The job's queueing lock keeps one
waiting per endpoint, so pumping often is cheap, and a job lost with a crashed process
is queued again on the next pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import datetime

from pims_sync.errors import JobRefusedError
from pims_sync.ports.queue import DeliveryJob, JobQueue
from pims_sync.ports.webhooks import WebhookStore

log = logging.getLogger("pims_sync.webhooks")

MAX_PER_PASS = 500


class DeliveryPump:
    """Queues delivery jobs for due endpoints, every `interval` seconds until stopped."""

    def __init__(
        self,
        *,
        store: WebhookStore,
        queue: JobQueue,
        now: Callable[[], datetime],
        interval: float = 1.0,
    ) -> None:
        self._store = store
        self._queue = queue
        self._now = now
        self._interval = interval
        self._stop = asyncio.Event()

    async def run(self) -> None:
        """Pump until stop(); a failing pass is logged and tried again on the next."""
        failing = False
        while not self._stop.is_set():
            try:
                await self.pump()
            except Exception:
                # Once per outage, not once a second: the database may be down a while.
                if not failing:
                    log.exception("webhook pump failed; trying again every %gs", self._interval)
                failing = True
            else:
                if failing:
                    log.info("webhook pump works again")
                failing = False
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), self._interval)

    def stop(self) -> None:
        """End the loop after the current pass."""
        self._stop.set()

    async def pump(self) -> int:
        """Queue a job for each due endpoint; how many were queued (not already waiting)."""
        queued = 0
        for endpoint in await self._store.due(at=self._now(), limit=MAX_PER_PASS):
            try:
                await self._queue.enqueue(DeliveryJob(endpoint.id, endpoint.clinic_id))
            except JobRefusedError:
                continue  # one is waiting already (or the queue is closing)
            queued += 1
        return queued
