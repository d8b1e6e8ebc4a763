"""The one SSE client parser (console and demo): the text/event-stream format as defined."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable

import pytest

from pims_sync.api.run_events import KEEPALIVE, sse
from pims_sync.cli.console.client import Event, sse_events


async def _lines(items: Iterable[str]) -> AsyncIterator[str]:
    for item in items:
        yield item


async def parsed(text: str) -> list[Event]:
    # httpx's aiter_lines splits on \n, \r\n and \r and drops the line ends, as here.
    return [event async for event in sse_events(_lines(text.splitlines()))]


async def test_multi_line_data_is_joined_with_newlines() -> None:
    text = 'event: log\ndata: {"message":\ndata:  "two\\nlines",\ndata: "n": 1}\n\n'
    assert await parsed(text) == [Event("log", {"message": "two\nlines", "n": 1})]
    raw = "data: first\ndata:\ndata: third\n\n"
    assert await parsed(raw) == [Event("message", {"value": "first\n\nthird"})]


async def test_one_space_after_the_colon_is_dropped_not_more() -> None:
    assert await parsed("data:  x\n\ndata:y\n\n") == [
        Event("message", {"value": " x"}),
        Event("message", {"value": "y"}),
    ]


async def test_comments_empty_events_and_unknown_fields_dispatch_nothing() -> None:
    text = ": keep-alive\n\nevent: phase\n\nid: 7\nretry: 10\n\nevent: progress\ndata: {}\n\n"
    assert await parsed(text) == [Event("progress", {})]


async def test_the_event_type_resets_after_each_event() -> None:
    text = "event: phase\ndata: 1\n\ndata: 2\n\n"
    assert await parsed(text) == [Event("phase", {"value": 1}), Event("message", {"value": 2})]


async def test_an_event_cut_off_by_the_end_of_the_stream_is_dropped() -> None:
    assert await parsed("event: completed\ndata: {}\n\nevent: failed\ndata: {}") == [
        Event("completed", {})
    ]


async def test_crlf_line_ends_and_a_byte_order_mark() -> None:
    assert await parsed("\ufeffevent: log\r\ndata: {}\r\n\r\n") == [Event("log", {})]


@pytest.mark.parametrize(
    ("kind", "data"),
    [("phase", {"phase": "inbound", "status": "started"}), ("failed", {"error": "a\nb"})],
)
async def test_what_the_server_writes_reads_back(kind: str, data: dict[str, object]) -> None:
    text = (KEEPALIVE + sse(kind, data) + KEEPALIVE).decode()
    assert await parsed(text) == [Event(kind, data)]
