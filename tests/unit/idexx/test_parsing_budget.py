"""A hostile answer is refused on its bytes, before parsing; the process does not balloon.

The memory test runs in a child process (`python -m tests.unit.idexx.test_parsing_budget`),
whose peak RSS (`ru_maxrss`) starts fresh: a 32 MB `[{},{},…]` parsed would take it from
~100 MB to ~900 MB; refused unparsed, it grows by little more than the body itself.
"""

from __future__ import annotations

import asyncio
import copy
import json
import resource
import subprocess
import sys
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, cast
from zoneinfo import ZoneInfo

import httpx
import pytest

from pims_sync.adapters.idexx import provider as provider_module
from pims_sync.adapters.idexx.browser import BrowserPool
from pims_sync.adapters.idexx.budget import JsonBudget, calendar_max_bytes
from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.retry import RetryPolicy
from pims_sync.errors import PimsNotReadyError, PimsPayloadError
from pims_sync.ports.provider import ClinicLogin
from tests.unit.idexx.snapshots import load_fixture
from tests.unit.idexx.test_session import StubPool

LA = ZoneInfo("America/Los_Angeles")
LOGIN = ClinicLogin(uuid.uuid4(), PimsCredentials(username="u@example.com", password="p"))
DAY_START = datetime(2026, 1, 22, tzinfo=LA)
ROOT = Path(__file__).parents[3]
MIB = 1024 * 1024
# Far below the ~800 MB a parsed 32 MB `[{},…]` costs, above the body and its copies.
MAX_GROWTH_MIB = 150


async def stub_log_in(context: object, **kwargs: object) -> list[dict[str, object]]:
    """A login without a browser: the session cookie only."""
    return [{"name": "neo_session", "value": "token", "domain": "us.idexxneo.test"}]


@pytest.fixture(autouse=True)
def no_browser(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provider_module, "log_in", stub_log_in)


def stub_provider(answer: httpx.Response) -> IdexxProvider:
    """An IDEXX provider whose every request gets `answer` (and whose login is stubbed)."""
    options = IdexxOptions(
        base_url="https://us.idexxneo.test", retry=RetryPolicy(base_delay=0.001, max_delay=0.001)
    )
    transport = httpx.MockTransport(lambda _: answer)
    return IdexxProvider(options, pool=cast(BrowserPool, StubPool()), transport=transport)


def hostile_calendar(size: int) -> bytes:
    """`[{},{},…]` of about `size` bytes: ~70 bytes of Python per 3 bytes of wire."""
    return b"[" + b"{}," * (size // 3) + b"{}]"


async def fetch_calendar(body: bytes, days: int) -> tuple[object, int]:
    """What a session makes of `body` as the calendar of `days` days; and requests sent."""
    json_type = {"content-type": "application/json"}
    provider = stub_provider(httpx.Response(200, content=body, headers=json_type))
    async with provider.session(LOGIN) as session:
        try:
            result: object = await session.fetch_appointments(
                DAY_START, DAY_START + timedelta(days=days)
            )
        except PimsPayloadError as error:
            result = error
        sent = session.requests_sent
    await provider.aclose()
    return result, sent


def peak_kib() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def child() -> None:
    """Fetch a 32 MB `[{},…]` calendar for 32 days, then for a day; print refusals and growth."""
    provider_module.log_in = stub_log_in  # type: ignore[assignment]
    body = hostile_calendar(32 * MIB - 64)  # within the byte cap of 32 days
    before = peak_kib()
    month, _ = asyncio.run(fetch_calendar(body, 32))
    day, _ = asyncio.run(fetch_calendar(body, 1))
    growth = (peak_kib() - before) / 1024
    print(json.dumps({"month": str(month), "day": str(day), "growth_mib": growth}))


def test_a_32_mb_calendar_of_empty_objects_is_refused_without_ballooning() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tests.unit.idexx.test_parsing_budget"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert "objects or lists, more than the plausible 102464; not parsed" in report["month"]
    assert f"response larger than {2 * MIB} bytes; not read" in report["day"]
    assert report["growth_mib"] < MAX_GROWTH_MIB, report


class TestBudget:
    def test_the_calendar_byte_cap_scales_with_the_window(self) -> None:
        assert [calendar_max_bytes(d) for d in (1, 2, 3, 15, 31, 32, 366)] == [
            2 * MIB,
            2 * MIB,
            3 * MIB,
            15 * MIB,
            31 * MIB,
            32 * MIB,
            32 * MIB,
        ]

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"[" + b"{}," * 200 + b"{}]", "202 objects or lists"),
            (b"  \n[" + b"[]," * 200 + b"[]]", "202 objects or lists"),
            (b"[" + b"1," * 3000 + b"1]", "3001 elements"),
            (b'{"events": [' + b'"ab",' * 3000 + b'"ab"]}', "3001 elements"),
        ],
    )
    def test_too_many_containers_or_elements_are_refused(self, body: bytes, message: str) -> None:
        with pytest.raises(PimsPayloadError, match=message):
            JsonBudget("calendar", max_containers=100, max_elements=2000)(body)

    @pytest.mark.parametrize(
        "body", [b"<html>{{{{,,,,}}}}</html>", b'"{{{{,,,,"', b"", b"[" + b"{}," * 40 + b"{}]"]
    )
    def test_what_is_not_a_large_container_is_left_to_the_parser(self, body: bytes) -> None:
        JsonBudget("calendar", max_containers=100, max_elements=2000)(body)

    async def test_the_plausible_maximum_of_real_events_passes(self) -> None:
        """400 full-size events in one day (ten times a busy clinic) are read, not refused."""
        first: Any = load_fixture("calendar_bare_array.json")[0]
        events = []
        for number in range(400):
            event = copy.deepcopy(first)
            event.update(id=number + 1, appointment_id=number + 1, start="2026-01-22 09:00:00")
            event["reason"] = "VOMITING, LETHARGY, NOT EATING, SINCE MONDAY, " * 3
            events.append(event)
        body = json.dumps(events).encode()
        assert len(body) < calendar_max_bytes(1)
        page, sent = await fetch_calendar(body, 1)
        assert not isinstance(page, Exception), page
        assert (len(page), sent) == (400, 1)  # type: ignore[arg-type]

    async def test_a_refused_calendar_is_not_retried(self) -> None:
        refused, sent = await fetch_calendar(hostile_calendar(MIB), 1)
        assert isinstance(refused, PimsPayloadError)
        assert "not parsed" in str(refused)
        assert sent == 1


async def test_a_page_data_refusal_is_not_ready_at_once() -> None:
    """A 200 `{"success": false}` page-data: the consultation is skipped, never retried."""
    answer = {"success": False, "message": "Consultation is not finalised"}
    provider = stub_provider(httpx.Response(200, json=answer))
    async with provider.session(LOGIN) as session:
        with pytest.raises(PimsNotReadyError):
            await session.fetch_consultation("728004")
        assert session.requests_sent == 1
    await provider.aclose()


if __name__ == "__main__":
    child()
