"""Issue 20, finding 10: connections an attacker opens and holds, against the real server.

The server runs with the same uvicorn configuration as `pims-sync serve`
(`api.server.server_config`). What is tested: event streams per key are capped and their
slots come back; streams hold no database connection; a request's headers and body must
arrive within HTTP_REQUEST_TIMEOUT_SECONDS (a byte-a-time sender is dropped), while
keep-alive and long answers are not cut; past HTTP_MAX_CONNECTIONS the answer is 503;
oversized headers are refused.
"""

from __future__ import annotations

import asyncio
import socket
import threading
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import ExitStack, asynccontextmanager, contextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import update

from pims_sync.adapters.memory.provider import FakeProvider, FakeSession
from pims_sync.adapters.sql import tables
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.runs import SyncType, Trigger
from pims_sync.ports.provider import ClinicLogin
from tests.reliability.api_stack import (
    PASSWORD,
    HostileApi,
    check_envelope,
    fake_appointments,
    migrated_copy,
)

REQUEST_TIMEOUT = 1.0
MAX_CONNECTIONS = 12
# Far longer than the server is allowed to wait: a test that reaches it has failed.
PATIENCE = 20.0


class GatedProvider(FakeProvider):
    """The fake PIMS, whose login waits until the test opens the gate."""

    def __init__(self) -> None:
        super().__init__(appointments=fake_appointments(), password=PASSWORD)
        self.gate = threading.Event()
        self.waiting = 0

    @asynccontextmanager
    async def session(self, login: ClinicLogin) -> AsyncIterator[FakeSession]:
        """Wait for the gate, then the fake session."""
        self.waiting += 1
        while not self.gate.is_set():
            await asyncio.sleep(0.02)
        async with super().session(login) as session:
            yield session


class ObservedApi(HostileApi):
    """HostileApi that keeps its services, to look at the database pool."""

    services: Services | None = None

    async def build(self) -> Services:
        """The services, kept."""
        self.services = await super().build()
        return self.services

    def checked_out(self) -> int:
        """Database connections the server holds right now."""
        assert self.services is not None
        return int(self.services.engine.pool.checkedout())  # type: ignore[attr-defined]


@contextmanager
def serving(request: pytest.FixtureRequest, tmp: Any, **settings: object) -> Iterator[ObservedApi]:
    """An ObservedApi with a gated PIMS on a fresh SQLite database."""
    with migrated_copy("sqlite", request, tmp) as url:
        api = ObservedApi(url, **settings)
        api.provider = GatedProvider()
        api.start()
        try:
            yield api
        finally:
            assert isinstance(api.provider, GatedProvider)
            api.provider.gate.set()
            api.stop()


@pytest.fixture(scope="module")
def api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObservedApi]:
    """The service with its default limits."""
    with serving(request, tmp_path_factory.mktemp("streams")) as running:
        yield running


@pytest.fixture(scope="module")
def tight(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ObservedApi]:
    """The service with a short request timeout and few connections."""
    settings = {
        "http_request_timeout_seconds": REQUEST_TIMEOUT,
        "http_max_connections": MAX_CONNECTIONS,
    }
    with serving(request, tmp_path_factory.mktemp("tight"), **settings) as running:
        yield running


def until(done: Callable[[], bool], what: str) -> None:
    """Wait for `done()`; fail after PATIENCE seconds."""
    deadline = time.monotonic() + PATIENCE
    while not done():
        if time.monotonic() > deadline:
            pytest.fail(f"never happened: {what}")
        time.sleep(0.05)


def live_run_elsewhere(api: HostileApi) -> str:
    """An in-progress run as another process would have it (followed by polling its row)."""

    async def start() -> str:
        services = build_services(api.settings)
        try:
            record = await services.runs.start(
                clinic_id=api.who.clinic_id,
                sync_type=SyncType.INBOUND,
                triggered_by=Trigger.SCHEDULER,
                at=datetime.now(UTC),
            )
        finally:
            await services.aclose()
        return str(record.id)

    return asyncio.run(start())


def finish_run(api: HostileApi, run_id: str) -> None:
    """Close the run's row as its process would."""
    audits = tables.case_sync_audits
    with api.db.begin() as conn:
        conn.execute(
            update(audits)
            .where(audits.c.id == uuid.UUID(run_id))
            .values(status="completed", completed_at=datetime.now(UTC))
        )


@contextmanager
def finally_finished(api: HostileApi, run_id: str) -> Iterator[None]:
    """Whatever the test does, the run is closed at its end (the clinic is free again)."""
    try:
        yield
    finally:
        finish_run(api, run_id)


def open_stream(stack: ExitStack, http: httpx.Client, run_id: str, **params: str) -> httpx.Response:
    """GET the run's events and keep the answer open (closed with the stack)."""
    return stack.enter_context(http.stream("GET", f"/api/sync/{run_id}/events", params=params))


def raw_socket(api: HostileApi) -> socket.socket:
    """A TCP connection to the server, nothing sent yet."""
    parts = urlsplit(api.base_url)
    return socket.create_connection((parts.hostname, parts.port), timeout=PATIENCE)


def closed_by_server(conn: socket.socket) -> bool:
    """Whether the server closed the connection (EOF or reset) while we waited for it."""
    try:
        while True:
            data = conn.recv(65536)
            if not data:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


# --- event streams -------------------------------------------------------------------------


def all_accepted(http: httpx.Client, run_id: str, count: int) -> bool:
    """Whether `count` streams opened at once are all accepted (closed again at once)."""
    with ExitStack() as stack:
        return all(open_stream(stack, http, run_id).status_code == 200 for _ in range(count))


def test_event_streams_are_capped_per_key_and_slots_come_back(api: ObservedApi) -> None:
    run_id = live_run_elsewhere(api)
    key = {"X-API-Key": api.who.clinic_key}
    limits = httpx.Limits(max_connections=50)
    with (
        httpx.Client(base_url=api.base_url, headers=key, timeout=30, limits=limits) as http,
        finally_finished(api, run_id),
    ):
        with ExitStack() as stack:
            streams = [open_stream(stack, http, run_id) for _ in range(10)]
            assert [s.status_code for s in streams] == [200] * 10
            for _ in range(5):
                refused = open_stream(stack, http, run_id)
                assert refused.status_code == 429, "a stream past the cap was accepted"
                refused.read()
                body = check_envelope(429, refused.json())
                assert body["code"] == "too_many_streams"
                assert "(at most 10)" in body["error"]
            # Another key has its own streams; the service still answers everything else.
            service = {"X-API-Key": api.who.service_key}
            params = {"clinicId": str(api.who.clinic_id)}
            other = stack.enter_context(
                http.stream("GET", f"/api/sync/{run_id}/events", params=params, headers=service)
            )
            assert other.status_code == 200
            assert http.get("/ready").status_code == 200
            assert http.get("/api/clinic").status_code == 200
            streams[0].close()
            # The closed stream's slot comes back (the server sees the client go away).
            until(lambda: all_accepted(http, run_id, 1), "a closed stream's slot was freed")
        until(lambda: all_accepted(http, run_id, 10), "every slot was freed")


def test_open_streams_hold_no_database_connection(api: ObservedApi) -> None:
    key = {"X-API-Key": api.who.clinic_key}
    limits = httpx.Limits(max_connections=50)
    with httpx.Client(base_url=api.base_url, headers=key, timeout=30, limits=limits) as http:
        started = http.post("/api/sync/inbound", json={"async": True, "daysAhead": 1})
        assert started.status_code == 202, started.text
        run_id = started.json()["syncId"]  # waiting at the gated PIMS login
        assert isinstance(api.provider, GatedProvider)
        gated = api.provider
        until(lambda: gated.waiting > 0, "the run reached the PIMS login")
        baseline = api.checked_out()
        with ExitStack() as stack:
            streams = [open_stream(stack, http, run_id) for _ in range(10)]
            assert [s.status_code for s in streams] == [200] * 10
            until(lambda: api.checked_out() == baseline, "the streams' first reads returned")
            for _ in range(10):
                assert api.checked_out() == baseline
                time.sleep(0.05)
            gated.gate.set()
            for stream in streams:
                assert "event: completed" in "".join(stream.iter_text())


# --- the request deadline ------------------------------------------------------------------


def test_a_byte_a_time_header_sender_is_dropped(tight: ObservedApi) -> None:
    with raw_socket(tight) as conn:
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\nX-Slow: ")
        dropped = False
        for _ in range(200):  # 10 s of a header that never ends, at a byte every 50 ms
            try:
                conn.sendall(b"a")
            except (BrokenPipeError, ConnectionResetError):
                dropped = True
                break
            time.sleep(0.05)
        assert dropped or closed_by_server(conn), "the slow sender is still connected"


def test_silent_connections_and_slow_bodies_are_dropped(tight: ObservedApi) -> None:
    with raw_socket(tight) as silent, raw_socket(tight) as slow_body:
        slow_body.sendall(
            b"POST /api/sync/inbound HTTP/1.1\r\nHost: a\r\nContent-Type: application/json\r\n"
            b"Content-Length: 100\r\n\r\n{"
        )
        assert closed_by_server(silent)
        assert closed_by_server(slow_body)
    assert tight.provider.logins == 0


def test_keep_alive_and_long_answers_are_not_cut(tight: ObservedApi) -> None:
    key = {"X-API-Key": tight.who.clinic_key}
    with httpx.Client(base_url=tight.base_url, headers=key, timeout=30) as http:
        for _ in range(3):  # one connection, requests inside the keep-alive
            assert http.get("/api/clinic").status_code == 200
        run_id = live_run_elsewhere(tight)
        with (
            finally_finished(tight, run_id),
            http.stream("GET", f"/api/sync/{run_id}/events") as stream,
        ):
            assert stream.status_code == 200
            time.sleep(3 * REQUEST_TIMEOUT)  # the stream outlives the request deadline
            finish_run(tight, run_id)
            assert "event: completed" in "".join(stream.iter_text())


# --- connection limit and header size --------------------------------------------------------


def test_past_the_connection_limit_the_answer_is_503_until_idle_ones_are_dropped(
    tight: ObservedApi,
) -> None:
    idle = [raw_socket(tight) for _ in range(MAX_CONNECTIONS)]
    try:
        with httpx.Client(base_url=tight.base_url, timeout=30) as http:
            assert http.get("/health").status_code == 503
        # The idle ones sent no request: the deadline drops them, and service resumes.
        assert all(closed_by_server(conn) for conn in idle)
        with httpx.Client(base_url=tight.base_url, timeout=30) as http:
            until(lambda: http.get("/health").status_code == 200, "service resumed")
    finally:
        for conn in idle:
            conn.close()


def test_a_header_block_that_never_ends_is_cut_at_16_kib(tight: ObservedApi) -> None:
    with raw_socket(tight) as conn:
        # 20 KiB of a header that never ends, all sent (nothing left unread to reset on).
        conn.sendall(b"GET /health HTTP/1.1\r\nHost: a\r\nX-Big: " + b"b" * 20 * 1024)
        answer = b""
        try:
            while chunk := conn.recv(65536):
                answer += chunk
        except ConnectionResetError:
            pass
    assert answer.startswith(b"HTTP/1.1 400"), answer[:100]
