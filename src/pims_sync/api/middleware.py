"""Pure-ASGI middleware: body size limit; metrics and the last-resort 500; security headers."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from pims_sync.api.errors import error_response, internal_error_response
from pims_sync.ports.metrics import MetricsSink

logger = logging.getLogger(__name__)

MAX_BODY_BYTES = 1024 * 1024
# Before a 413, what the client still sends is read and dropped, up to this much: a
# server that closes on unread data resets the connection, and the client never sees
# the 413. Beyond this, the connection is closed anyway.
MAX_DRAINED_BYTES = 8 * MAX_BODY_BYTES
UNMATCHED_ROUTE = "unmatched"
# On every answer unless the route set its own: answers carry clinic data and must not be
# kept by a browser or a shared cache, nor sniffed into another content type.
SECURITY_HEADERS = ((b"cache-control", b"no-store"), (b"x-content-type-options", b"nosniff"))


def _declared_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class BodyLimitMiddleware:
    """Refuse request bodies over the limit with 413, declared or streamed (chunked).

    The body (at most `limit` bytes) is read before the app runs and then replayed,
    so a chunked upload is cut off as soon as it passes the limit; after the body,
    `receive` is the server's own again (disconnects still reach streaming routes).
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Check the declared length, read and count the body, then run the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _declared_length(scope)
        if declared is not None and declared > self.limit:
            if declared <= MAX_DRAINED_BYTES:
                await _drain(receive, MAX_DRAINED_BYTES)
            await self._refuse(scope, receive, send)
            return
        buffered: deque[Message] = deque()
        total = 0
        while True:
            message = await receive()
            buffered.append(message)
            if message["type"] != "http.request":
                break
            total += len(message.get("body", b""))
            if total > self.limit:
                if message.get("more_body", False):
                    await _drain(receive, MAX_DRAINED_BYTES - total)
                await self._refuse(scope, receive, send)
                return
            if not message.get("more_body", False):
                break

        async def replay() -> Message:
            return buffered.popleft() if buffered else await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit_kib = self.limit // 1024
        response = error_response(
            413,
            "payload_too_large",
            f"Request body is larger than {limit_kib} KiB",
            headers={"Connection": "close"},
        )
        await response(scope, receive, send)


async def _drain(receive: Receive, budget: int) -> None:
    """Read and drop the rest of the request body, at most `budget` bytes of it."""
    while budget > 0:
        message = await receive()
        if message["type"] != "http.request":
            return
        budget -= len(message.get("body", b""))
        if not message.get("more_body", False):
            return


def route_of(scope: Scope) -> str:
    """The matched route's template (`/api/sync/{syncId}`), never the raw path."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else UNMATCHED_ROUTE


class ObserveMiddleware:
    """Count every answer by route and status; turn an unexpected exception into a 500."""

    def __init__(self, app: ASGIApp, metrics_of: Callable[[], MetricsSink]) -> None:
        self.app = app
        self.metrics_of = metrics_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, observing the status it answers with."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500
        response_started = False

        async def observed_send(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                status = int(message["status"])
                response_started = True
            await send(message)

        try:
            await self.app(scope, receive, observed_send)
        except Exception:
            # Logged without the request body; the client sees a generic message.
            logger.exception("unhandled error in %s %s", scope["method"], route_of(scope))
            if response_started:
                raise
            await internal_error_response()(scope, receive, observed_send)
        finally:
            self.metrics_of().observe_http(
                method=scope["method"],
                route=route_of(scope),
                status=status,
                seconds=time.perf_counter() - started,
            )


class SecurityHeadersMiddleware:
    """Add `Cache-Control: no-store` and `X-Content-Type-Options: nosniff` to every answer."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app, adding the headers it did not set itself."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", ()))
                present = {name.lower() for name, _ in headers}
                headers += [
                    (name, value) for name, value in SECURITY_HEADERS if name not in present
                ]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, with_headers)
