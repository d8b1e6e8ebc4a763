"""Response classification and retries of the HTTP transport (httpx mock transport)."""

from __future__ import annotations

from collections.abc import Callable

import httpx
import pytest

from pims_sync.adapters.idexx.api import IdexxApi, retry_after_seconds
from pims_sync.adapters.idexx.ratelimit import RateLimiter
from pims_sync.domain.retry import RetryPolicy
from pims_sync.errors import (
    PimsNotFoundError,
    PimsPayloadError,
    PimsRequestRejectedError,
    PimsRetriesExhaustedError,
    PimsSessionExpiredError,
)

BASE = "https://us.idexxneo.test"
FAST = RetryPolicy(max_attempts=3, base_delay=0.001, max_delay=0.002, max_retry_after=0.01)
Handler = Callable[[httpx.Request], httpx.Response]


def make_api(handler: Handler) -> IdexxApi:
    return IdexxApi(
        base_url=BASE,
        limiter=RateLimiter(concurrency=5, rate=1000),
        retry=FAST,
        timeout=1.0,
        transport=httpx.MockTransport(handler),
    )


def answers(*responses: httpx.Response) -> tuple[Handler, list[httpx.Request]]:
    queue = list(responses)
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return queue.pop(0) if len(queue) > 1 else queue[0]

    return handler, seen


async def test_json_is_returned_with_xhr_headers_and_cookies() -> None:
    handler, seen = answers(httpx.Response(200, json=[{"id": 1}]))
    api = make_api(handler)
    api.use_cookies([{"name": "neo_session", "value": "abc", "domain": "us.idexxneo.test"}])
    assert await api.get_json("calendar", "/appointments/getCalendarEventData") == [{"id": 1}]
    request = seen[0]
    assert request.headers["X-Requested-With"] == "XMLHttpRequest"
    assert request.headers["Cookie"] == "neo_session=abc"
    await api.aclose()


async def test_5xx_and_429_are_retried_then_succeed() -> None:
    handler, seen = answers(
        httpx.Response(500),
        httpx.Response(429, headers={"Retry-After": "1"}),
        httpx.Response(200, json={"ok": True}),
    )
    api = make_api(handler)
    assert await api.get_json("page-data", "/x") == {"ok": True}
    assert len(seen) == 3
    await api.aclose()


async def test_persistent_5xx_is_a_clear_failure() -> None:
    handler, seen = answers(httpx.Response(503))
    api = make_api(handler)
    with pytest.raises(PimsRetriesExhaustedError, match=r"calendar .* 3 attempts .*HTTP 503"):
        await api.get_json("calendar", "/x")
    assert len(seen) == 3
    await api.aclose()


async def test_network_errors_are_retried() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200, json=[])

    api = make_api(handler)
    assert await api.get_json("calendar", "/x") == []
    await api.aclose()


@pytest.mark.parametrize(
    ("response", "error"),
    [
        (httpx.Response(401), PimsSessionExpiredError),
        (httpx.Response(403), PimsSessionExpiredError),
        (httpx.Response(302, headers={"Location": f"{BASE}/login"}), PimsSessionExpiredError),
        (httpx.Response(302, headers={"Location": "/login?next=/x"}), PimsSessionExpiredError),
        (
            httpx.Response(
                200, text="<!doctype html><form>", headers={"content-type": "text/html"}
            ),
            PimsSessionExpiredError,
        ),
        (httpx.Response(200, text="<html>"), PimsSessionExpiredError),
        (
            httpx.Response(302, headers={"Location": "https://evil.test/x"}),
            PimsRequestRejectedError,
        ),
        (httpx.Response(404), PimsNotFoundError),
        (httpx.Response(400), PimsRequestRejectedError),
        (httpx.Response(200, text="{not json"), PimsPayloadError),
    ],
)
async def test_classification_without_retry(
    response: httpx.Response, error: type[Exception]
) -> None:
    handler, seen = answers(response)
    api = make_api(handler)
    with pytest.raises(error):
        await api.get_json("calendar", "/x")
    assert len(seen) == 1  # none of these is retried
    await api.aclose()


def test_retry_after_parsing() -> None:
    assert retry_after_seconds("7") == 7.0
    assert retry_after_seconds("1.5") == 1.5
    assert retry_after_seconds(None) is None
    assert retry_after_seconds("soon") is None
    assert retry_after_seconds("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0
