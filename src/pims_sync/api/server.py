"""How uvicorn serves the app: connection limits and the request deadline (docs/security.md).

uvicorn bounds some things itself: `limit_concurrency` answers 503 once that many
connections are open, `timeout_keep_alive` closes an idle connection between requests, and
h11 refuses a header block that grows past 16 KiB without ending. It has no deadline for a
request to arrive: a client that sends its headers a byte at a time, or nothing at all,
keeps its connection (and a slot of `limit_concurrency`) for as long as it likes.
`RequestDeadlineProtocol` adds that deadline: the request line, headers and body must
arrive within HTTP_REQUEST_TIMEOUT_SECONDS of the connection opening (or of the previous
answer on a kept-alive connection), else the connection is closed. Answering takes as
long as it takes: a synchronous sync call or an event stream is never cut.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import h11
import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.h11_impl import H11Protocol

from pims_sync.settings import Settings

logger = logging.getLogger(__name__)

# h11's own bound on a header block still arriving; named here so the docs can point at it.
MAX_INCOMPLETE_HEADER_BYTES = 16 * 1024
# The client's side of the exchange still to come: the request line, headers or body.
RECEIVING = (h11.IDLE, h11.SEND_BODY)


class RequestDeadlineProtocol(H11Protocol):
    """uvicorn's h11 protocol, closing connections whose request does not arrive in time."""

    request_timeout = 30.0  # set per server by `deadline_protocol`
    _deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """A new connection: its first request is due within the deadline."""
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        """Pass the bytes on; once the request is in full, the deadline is off."""
        super().data_received(data)
        if self.conn.their_state not in RECEIVING:
            self._disarm()

    def on_response_complete(self) -> None:
        """After an answer, the next request on the connection is due within the deadline."""
        super().on_response_complete()
        if not self.transport.is_closing() and self.conn.their_state in RECEIVING:
            self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        """The connection is gone: no deadline to keep."""
        self._disarm()
        super().connection_lost(exc)

    def _arm(self) -> None:
        self._disarm()
        self._deadline = self.loop.call_later(self.request_timeout, self._expire)

    def _disarm(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expire(self) -> None:
        self._deadline = None
        if self.conn.their_state in RECEIVING and not self.transport.is_closing():
            # Debug only: a flood of slow clients must not become a flood of log lines.
            logger.debug("closed a connection whose request did not arrive in time")
            self.transport.close()


def deadline_protocol(seconds: float) -> type[RequestDeadlineProtocol]:
    """The protocol class with this request deadline."""
    attributes = {"request_timeout": seconds, "__doc__": RequestDeadlineProtocol.__doc__}
    return type("RequestDeadlineProtocol", (RequestDeadlineProtocol,), attributes)


def server_config(app: FastAPI, settings: Settings, **overrides: Any) -> uvicorn.Config:
    """The uvicorn configuration `pims-sync serve` runs the app with (tests override logging)."""
    options: dict[str, Any] = {
        "host": settings.host,
        "port": settings.port,
        "http": deadline_protocol(settings.http_request_timeout_seconds),
        "ws": "none",  # the API has no WebSocket route
        "limit_concurrency": settings.http_max_connections,
        "timeout_keep_alive": settings.http_keep_alive_seconds,
        "h11_max_incomplete_event_size": MAX_INCOMPLETE_HEADER_BYTES,
        "log_config": None,
        "log_level": settings.log_level,
        "lifespan": "on",
        "server_header": False,
        # Open requests (a synchronous sync call) end when their run ends: within the grace.
        "timeout_graceful_shutdown": int(settings.shutdown_grace_seconds) + 5,
    }
    return uvicorn.Config(app, **{**options, **overrides})
