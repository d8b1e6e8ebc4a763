"""The in-process event bus: replay, follow, end, forget."""

from __future__ import annotations

import asyncio
from uuid import uuid4

from pims_sync.sync.events import EventBus, RunEvent


async def test_replays_then_follows_and_ends_after_a_terminal_event() -> None:
    bus, run_id = EventBus(), uuid4()
    bus.open(run_id)
    await bus.publish(run_id, RunEvent("log", {"message": "one"}))
    stream = bus.subscribe(run_id)
    assert stream is not None
    got: list[str] = []

    async def read() -> None:
        async for event in stream:
            got.append(event.type)

    reader = asyncio.create_task(read())
    await asyncio.sleep(0)
    await bus.publish(run_id, RunEvent("progress", {"percentage": 50}))
    await bus.publish(run_id, RunEvent("failed", {"error": "x"}))
    await asyncio.wait_for(reader, 1)
    assert got == ["log", "progress", "failed"]


async def test_unknown_runs_have_no_stream_and_ended_runs_are_forgotten() -> None:
    bus, run_id = EventBus(retention_seconds=0.01), uuid4()
    assert bus.subscribe(run_id) is None
    await bus.publish(run_id, RunEvent("completed", {}))
    assert bus.known(run_id)
    await asyncio.sleep(0.05)
    assert not bus.known(run_id)
