"""IdexxSession logic without a browser: login is stubbed, HTTP is an httpx mock transport."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pytest

from pims_sync.adapters.idexx import provider as provider_module
from pims_sync.adapters.idexx.browser import BrowserPool
from pims_sync.adapters.idexx.config import USER_AGENT, IdexxOptions
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.adapters.memory.session_cache import InMemorySessionCache
from pims_sync.domain.credentials import PimsCredentials, session_binding
from pims_sync.domain.retry import RetryPolicy
from pims_sync.errors import PimsRequestRejectedError
from pims_sync.metrics import Metrics
from pims_sync.ports.metrics import NO_METRICS, MetricsSink
from pims_sync.ports.provider import ClinicLogin

BASE = "https://us.idexxneo.test"
LA = ZoneInfo("America/Los_Angeles")
LOGIN = ClinicLogin(uuid.uuid4(), PimsCredentials(username="u@example.com", password="p"))
EVENT = {"id": 1, "start": "2026-01-22 09:00:00", "end": "2026-01-22 09:15:00"}


class StubPool:
    """Stands in for the browser pool; `log_in` is stubbed so the context is never used."""

    @asynccontextmanager
    async def context(self, clinic_key: str, base_url: str) -> AsyncIterator[object]:
        yield object()

    async def close_idle(self) -> None:
        return None

    async def aclose(self) -> None:
        return None


@pytest.fixture
def logins(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    done: list[int] = []

    async def fake_log_in(context: object, **kwargs: Any) -> list[dict[str, object]]:
        done.append(1)
        token = f"token-{len(done)}"
        return [{"name": "neo_session", "value": token, "domain": "us.idexxneo.test"}]

    monkeypatch.setattr(provider_module, "log_in", fake_log_in)
    return done


def make_provider(
    handler: Callable[[httpx.Request], httpx.Response],
    cache: InMemorySessionCache | None = None,
    metrics: MetricsSink = NO_METRICS,
) -> IdexxProvider:
    options = IdexxOptions(base_url=BASE, retry=RetryPolicy(base_delay=0.001, max_delay=0.001))
    return IdexxProvider(
        options,
        session_cache=cache,
        pool=cast(BrowserPool, StubPool()),
        transport=httpx.MockTransport(handler),
        metrics=metrics,
    )


async def test_calendar_query_uses_clinic_wall_clock_bounds(logins: list[int]) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        overlapping = {**EVENT, "id": 2, "start": "2026-01-21 23:45:00"}
        before = {**EVENT, "id": 3, "start": "2026-01-21 23:00:00", "end": "2026-01-21 23:30:00"}
        return httpx.Response(200, json=[EVENT, overlapping, before])

    provider = make_provider(handler)
    async with provider.session(LOGIN) as session:
        page = await session.fetch_appointments(
            datetime(2026, 1, 22, tzinfo=LA), datetime(2026, 1, 23, tzinfo=LA)
        )
    assert seen[0].url.raw_path.decode() == (
        "/appointments/getCalendarEventData"
        "?start=2026-01-22%2000%3A00%3A00&end=2026-01-22%2023%3A59%3A59"
    )
    assert seen[0].headers["User-Agent"] == USER_AGENT
    # An event reaching into the window from before is one of its; one wholly before is not.
    assert [a.appointment_id for a in page.appointments] == ["1", "2"]
    assert page.outside_window == 1
    assert logins == [1]


async def test_expiry_is_renewed_once_then_fails_clearly(logins: list[int]) -> None:
    cookies: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        cookies.append(request.headers.get("Cookie", ""))
        return httpx.Response(302, headers={"Location": "/login"})

    provider = make_provider(handler)
    async with provider.session(LOGIN) as session:
        with pytest.raises(PimsRequestRejectedError, match="again right after a fresh login"):
            await session.fetch_consultation("7")
    assert cookies == ["neo_session=token-1", "neo_session=token-2"]
    assert len(logins) == 2


@pytest.mark.parametrize(
    ("answer", "how"),
    [
        (httpx.Response(302, headers={"Location": "/login"}), "redirected to the login page"),
        (httpx.Response(401), "HTTP 401"),
        (httpx.Response(200, text="<html>Sign in</html>"), "HTML where JSON was expected"),
    ],
)
async def test_the_refusal_after_a_fresh_login_says_how_the_pims_refused(
    logins: list[int], answer: httpx.Response, how: str
) -> None:
    provider = make_provider(lambda _: answer)
    async with provider.session(LOGIN) as session:
        with pytest.raises(PimsRequestRejectedError) as refused:
            await session.fetch_consultation("7")
    assert refused.value.message == (
        f"IDEXX Neo page-data rejected the session again right after a fresh login: {how}"
    )
    assert len(logins) == 2


async def test_a_session_rejected_right_after_its_login_is_not_renewed_again(
    logins: list[int],
) -> None:
    """HTML on every call: one renewal, then every call fails at once (no login storm)."""

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, text="<html>maintenance</html>", headers={"content-type": "text/html"}
        )

    provider = make_provider(handler)
    async with provider.session(LOGIN) as session:
        for consultation_id in ("7", "8", "9"):
            with pytest.raises(PimsRequestRejectedError, match="HTML where JSON was expected"):
                await session.fetch_consultation(consultation_id)
    assert len(logins) == 2  # the session's own login and one renewal


BINDING = session_binding(BASE, LOGIN.credentials)


async def test_a_cached_session_needs_no_login_and_is_kept_fresh(logins: list[int]) -> None:
    cache = InMemorySessionCache()
    cookies = json.dumps([{"name": "neo_session", "value": "cached"}])
    await cache.save(LOGIN.clinic_id, cookies, BINDING)

    def handler(request: httpx.Request) -> httpx.Response:
        assert request.headers["Cookie"] == "neo_session=cached"
        return httpx.Response(200, json={"consultation": {"id": 7, "status": "completed"}})

    provider = make_provider(handler, cache)
    async with provider.session(LOGIN) as session:
        assert (await session.fetch_consultation("7")).is_final
    assert logins == []
    assert await cache.load(LOGIN.clinic_id, BINDING) is not None


async def test_an_unreadable_cache_row_means_a_login(logins: list[int]) -> None:
    cache = InMemorySessionCache()
    await cache.save(LOGIN.clinic_id, "not json", BINDING)
    provider = make_provider(lambda request: httpx.Response(200, json=[]), cache)
    async with provider.session(LOGIN) as session:
        assert not session.from_cache
    assert logins == [1]
    cached = await cache.load(LOGIN.clinic_id, BINDING)
    assert cached is not None
    assert "token-1" in cached


async def test_requests_are_counted_in_the_metrics(logins: list[int]) -> None:
    answers = [httpx.Response(503), httpx.Response(200, json={"consultation": {"id": 7}})]
    metrics = Metrics()
    provider = make_provider(lambda request: answers.pop(0), metrics=metrics)
    async with provider.session(LOGIN) as session:
        await session.fetch_consultation("7")

    def count(status: str) -> float | None:
        labels = {"endpoint": "page-data", "status": status}
        return metrics.registry.get_sample_value("pims_sync_pims_requests_total", labels)

    assert (count("503"), count("200")) == (1.0, 1.0)
