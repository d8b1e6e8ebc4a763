"""A real HTTP receiver on 127.0.0.1 for webhook tests: records requests, answers by script.

Signatures are checked here with plain `hmac` and `hashlib`, independently of the
`standardwebhooks` library the service signs with.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it."""

    path: str
    headers: dict[str, str]
    body: bytes
    at: float

    @property
    def json(self) -> dict[str, Any]:
        """The body, parsed."""
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def webhook_id(self) -> str:
        """The `Webhook-Id` header."""
        return self.headers["webhook-id"]

    @property
    def seq(self) -> int:
        """The event's seq."""
        return int(self.json["data"]["seq"])


def signature_ok(secret: str, received: Received) -> bool:
    """Standard Webhooks, by hand: HMAC-SHA256 of `id.timestamp.body` with the secret's bytes."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = (
        f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}.".encode()
        + received.body
    )
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    given = received.headers.get("webhook-signature", "").split(" ")
    return any(hmac.compare_digest(expected, candidate) for candidate in given)


@dataclass
class Receiver:
    """The server's state: what came in, and the statuses to answer next (then 200)."""

    script: list[int] = field(default_factory=list)
    received: list[Received] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    url: str = ""
    # Called with each request before answering; may block (a slow receiver).
    on_request: Callable[[Received], None] | None = None

    def answer(self, received: Received) -> int:
        with self.lock:
            self.received.append(received)
            return self.script.pop(0) if self.script else 200

    def snapshot(self) -> list[Received]:
        """A copy of what came in so far."""
        with self.lock:
            return list(self.received)

    def wait_for(
        self, done: Callable[[list[Received]], bool], timeout: float = 20.0
    ) -> list[Received]:
        """Poll until `done(received)`; fail with what came in after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            seen = self.snapshot()
            if done(seen):
                return seen
            time.sleep(0.02)
        seen = self.snapshot()
        raise AssertionError(
            f"receiver timed out with {len(seen)} requests: {[r.path for r in seen][:20]}"
        )


def _handler(state: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            body = self.rfile.read(length)
            if len(body) < length:
                # The sender was killed mid-request: nothing was delivered (it saw no
                # answer, and will send the event again), as a real receiver would judge.
                self.close_connection = True
                return
            received = Received(
                self.path, {k.lower(): v for k, v in self.headers.items()}, body, time.monotonic()
            )
            if state.on_request is not None:
                state.on_request(received)
            status = state.answer(received)
            answer = json.dumps({"got": received.headers.get("webhook-id")}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    return Handler


class ReceiverServer:
    """A threaded HTTP server on 127.0.0.1 with a free port, as a context manager."""

    def __init__(self) -> None:
        self.state = Receiver()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self.state))
        self._server.daemon_threads = True
        self.state.url = f"http://127.0.0.1:{self._server.server_address[1]}/hooks"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self._thread.start()
        return self.state

    def __exit__(self, *_: object) -> None:
        self._server.shutdown()
        self._server.server_close()
