"""Bounded PIMS bodies: an answer past its cap is refused without being read to the end."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from pims_sync.adapters.idexx.api import IdexxApi
from pims_sync.adapters.idexx.ratelimit import RateLimiter
from pims_sync.domain.retry import RetryPolicy
from pims_sync.errors import PimsPayloadError
from pims_sync.ports.metrics import NO_METRICS, NoMetrics

BASE = "https://us.idexxneo.test"
CAP = 1000


class Chunks(httpx.AsyncByteStream):
    """A body sent in chunks, with no Content-Length; counts how many were pulled."""

    def __init__(self, chunk: bytes, count: int) -> None:
        self.chunk, self.count, self.pulled = chunk, count, 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for _ in range(self.count):
            self.pulled += 1
            yield self.chunk


class SeenRequests(NoMetrics):
    """Metrics that remember each PIMS request's endpoint and status."""

    def __init__(self, seen: list[tuple[str, int | str]]) -> None:
        self.seen = seen

    def pims_request(self, *, endpoint: str, status: int | str, seconds: float) -> None:
        self.seen.append((endpoint, status))


def api_answering(
    response: httpx.Response, seen: list[tuple[str, int | str]] | None = None
) -> IdexxApi:
    return IdexxApi(
        metrics=NO_METRICS if seen is None else SeenRequests(seen),
        base_url=BASE,
        limiter=RateLimiter(concurrency=5, rate=1000),
        retry=RetryPolicy(max_attempts=2, base_delay=0.001, max_delay=0.002),
        timeout=1.0,
        transport=httpx.MockTransport(lambda _: response),
    )


async def test_a_declared_length_over_the_cap_is_refused_unread() -> None:
    stream = Chunks(b"x" * 100, 20)
    response = httpx.Response(
        200, headers={"content-type": "application/json", "content-length": "2000"}, stream=stream
    )
    api = api_answering(response)
    with pytest.raises(PimsPayloadError, match=f"response larger than {CAP} bytes"):
        await api.get_json("page-data", "/consultations/1/page-data", max_bytes=CAP)
    assert stream.pulled == 0
    await api.aclose()


async def test_a_streamed_body_is_cut_off_as_soon_as_it_passes_the_cap() -> None:
    stream = Chunks(b" " * 300, 1000)
    response = httpx.Response(200, headers={"content-type": "application/json"}, stream=stream)
    seen: list[tuple[str, int | str]] = []
    api = api_answering(response, seen)
    with pytest.raises(PimsPayloadError, match="not read"):
        await api.get_json("page-data", "/consultations/1/page-data", max_bytes=CAP)
    assert stream.pulled == 4  # 1200 bytes: one chunk past the cap, not 300 kB
    assert seen == [("page-data", 200)]  # counted in the metrics, and not retried
    await api.aclose()


async def test_a_body_within_the_cap_is_json() -> None:
    response = httpx.Response(200, json={"consultation": {"id": 1}})
    api = api_answering(response)
    body = await api.get_json("page-data", "/consultations/1/page-data", max_bytes=CAP)
    assert body == {"consultation": {"id": 1}}
    await api.aclose()


async def test_json_nested_deeper_than_python_parses_is_a_payload_error() -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    response = httpx.Response(200, headers={"content-type": "application/json"}, content=deep)
    api = api_answering(response)
    with pytest.raises(PimsPayloadError, match="not JSON"):
        await api.get_json("calendar", "/appointments/getCalendarEventData")
    await api.aclose()
