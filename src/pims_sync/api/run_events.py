"""Server-Sent Events of a run: from this process's event bus, else by polling its audit row.

A finished run answers its final event (`completed` with the result, or `failed`) at
once. A live run of this process relays the bus (`phase`, `progress`, `log`, then the
final event). A live run of another process (another replica, the CLI) is followed by
reading its audit rows every `POLL_SECONDS`, emitting `phase` and `progress` changes in
the bus's shapes. A comment line goes out every `KEEPALIVE_SECONDS` so proxies keep the
connection open; the stream stops when the client goes away (Starlette cancels it).
Each event is written by FastAPI's own SSE encoder (`fastapi.sse.format_sse_event`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from typing import Any
from uuid import UUID

from fastapi.sse import format_sse_event

from pims_sync.bootstrap import Services
from pims_sync.domain.runs import RunRecord, RunStatus, SyncType
from pims_sync.sync.events import RunEvent

KEEPALIVE_SECONDS = 15.0
POLL_SECONDS = 0.5
KEEPALIVE = format_sse_event(comment="keep-alive")
TERMINAL = frozenset({"completed", "failed"})


def sse(event_type: str, data: dict[str, Any]) -> bytes:
    """One event in the text/event-stream format: its type and its data as JSON."""
    return format_sse_event(event=event_type, data_str=json.dumps(data, default=str))


def final_event(record: RunRecord) -> bytes:
    """The run's terminal event, in the bus's shape: `{result}` or `{result, error, code}`."""
    result = record.result or {"success": record.status is RunStatus.COMPLETED}
    if record.status is RunStatus.COMPLETED:
        return sse("completed", {"result": result})
    data: dict[str, Any] = {"result": result, "error": record.error_message}
    if isinstance(result.get("code"), str):
        data["code"] = result["code"]
    return sse("failed", data)


async def event_stream(services: Services, clinic_id: UUID, run_id: UUID) -> AsyncIterator[bytes]:
    """The run's events as SSE chunks, ending with its final event."""
    record = await services.runs.get(clinic_id=clinic_id, run_id=run_id)
    if record is None:
        return
    if record.finished:
        yield final_event(record)
        return
    events = services.sync.events.subscribe(run_id)
    follow = _poll(services, record) if events is None else _relay(services, record, events)
    async for chunk in follow:
        yield chunk


async def _pump(events: AsyncIterator[RunEvent], queue: asyncio.Queue[RunEvent]) -> None:
    async for event in events:
        await queue.put(event)


async def _relay(
    services: Services, record: RunRecord, events: AsyncIterator[RunEvent]
) -> AsyncIterator[bytes]:
    """The bus's events; on each quiet interval a keep-alive and a look at the audit row."""
    queue: asyncio.Queue[RunEvent] = asyncio.Queue()
    # A separate task, so waiting with a timeout never cancels the bus iterator itself.
    pump = asyncio.create_task(_pump(events, queue))
    try:
        while True:
            try:
                event = await asyncio.wait_for(queue.get(), KEEPALIVE_SECONDS)
            except TimeoutError:
                yield KEEPALIVE
                # The bus forgets a run some minutes after it ends; the row never does.
                latest = await services.runs.get(clinic_id=record.clinic_id, run_id=record.id)
                if latest is None or latest.finished:
                    if latest is not None:
                        yield final_event(latest)
                    return
                continue
            yield sse(event.type, event.data)
            if event.type in TERMINAL:
                return
    finally:
        pump.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await pump


def _current_phase(phases: list[RunRecord]) -> RunRecord | None:
    """The phase a full run is in: the last one started."""
    return phases[-1] if phases else None


async def _poll(services: Services, record: RunRecord) -> AsyncIterator[bytes]:
    """Follow the audit rows of a run that lives in another process."""
    seen_phases: set[UUID] = set()
    last_progress: tuple[int, int, int] | None = None
    quiet_since = asyncio.get_running_loop().time()
    while True:
        latest = await services.runs.get(clinic_id=record.clinic_id, run_id=record.id)
        if latest is None:
            return
        chunks, last_progress = await _changes(services, latest, seen_phases, last_progress)
        if latest.finished:
            for chunk in chunks:
                yield chunk
            yield final_event(latest)
            return
        for chunk in chunks:
            yield chunk
        now = asyncio.get_running_loop().time()
        if chunks:
            quiet_since = now
        elif now - quiet_since >= KEEPALIVE_SECONDS:
            quiet_since = now
            yield KEEPALIVE
        await asyncio.sleep(POLL_SECONDS)


async def _progress_row(services: Services, record: RunRecord) -> RunRecord:
    """The row whose progress moves: the current phase of a full run, else the run."""
    if record.sync_type is not SyncType.FULL:
        return record
    phases = await services.runs.children(clinic_id=record.clinic_id, parent_id=record.id)
    return _current_phase(phases) or record


def _reading(row: RunRecord) -> tuple[int, int, int]:
    return (row.progress_percentage, row.processed_items, row.total_items)


async def _changes(
    services: Services,
    record: RunRecord,
    seen_phases: set[UUID],
    last_progress: tuple[int, int, int] | None,
) -> tuple[list[bytes], tuple[int, int, int]]:
    """`phase` events for phases not seen before, `progress` when the reading moved."""
    chunks: list[bytes] = []
    row = await _progress_row(services, record)
    if row.id != record.id and row.id not in seen_phases:
        seen_phases.add(row.id)
        chunks.append(
            sse("phase", {"phase": row.sync_type.value, "status": "started", "syncId": str(row.id)})
        )
    if _reading(row) != last_progress:
        percentage, processed, total = _reading(row)
        data = {"phase": row.sync_type.value, "percentage": percentage}
        chunks.append(sse("progress", {**data, "processed": processed, "total": total}))
    return chunks, _reading(row)
