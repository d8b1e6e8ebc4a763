"""The login browser's only way out: a small forward proxy that refuses private addresses.

Each browser context sends every request through its own `EgressProxy` (Playwright's
per-context `proxy`, loopback included). The proxy asks `Destination` where a host:port may
be reached and connects to that address itself, so a redirect, a worker, a WebSocket or
a name that resolves differently the second time cannot reach the service's own API,
the internal network or the cloud metadata address. Bodies are never read: HTTPS is
tunnelled (CONNECT); a plain-HTTP request's head is rewritten to one request per
connection (the next request may be for another host, and must be checked again).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

# Where host:port may be reached: the addresses to try in turn; none at all = refused.
Destination = Callable[[str, int], Awaitable[list[str]]]

MAX_HEAD_BYTES = 64 * 1024
HEAD_SECONDS = 30.0  # a browser sends its request head at once; anything slower is dropped
CONNECT_SECONDS = 15.0
CHUNK = 64 * 1024
# A body, so that a refused page load shows it (and ends on the refused URL) instead of
# failing the navigation: the login then names the host it was sent to.
REFUSED_BODY = b"refused by pims-sync: not a public address\n"
REFUSED = (
    b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nConnection: close\r\n"
    b"Content-Length: %d\r\n\r\n%s" % (len(REFUSED_BODY), REFUSED_BODY)
)
BAD_GATEWAY = b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
BAD_REQUEST = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
TUNNEL_OPEN = b"HTTP/1.1 200 Connection Established\r\n\r\n"
# Headers about this hop only: never forwarded (the proxy's own, and keep-alive).
HOP_HEADERS = frozenset({b"connection", b"proxy-connection", b"keep-alive", b"proxy-authorization"})


class EgressProxy:
    """An HTTP proxy on 127.0.0.1 that connects only where `destination` says."""

    def __init__(self, destination: Destination) -> None:
        self._destination = destination
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self.url = ""

    async def start(self) -> str:
        """Listen on a free loopback port; return the proxy's URL."""
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, limit=MAX_HEAD_BYTES)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    def close(self) -> None:
        """Stop listening and drop every open connection (synchronous: safe in callbacks)."""
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            await self._open(reader, writer)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass  # the browser went away or sent no head: nothing to answer
        finally:
            self._writers.discard(writer)
            writer.close()

    async def _open(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Read one request head, check its target, connect and relay until either side ends."""
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_SECONDS)
        request = _Request.parse(head)
        if request is None:
            await _answer(writer, BAD_REQUEST)
            return
        addresses = await self._destination(request.host, request.port)
        if not addresses:
            await _answer(writer, REFUSED)
            return
        far = await _connect(addresses, request.port)
        if far is None:
            await _answer(writer, BAD_GATEWAY)
            return
        far_reader, far_writer = far
        try:
            if request.tunnel:
                writer.write(TUNNEL_OPEN)
            else:
                far_writer.write(request.forward_head)
            await _relay(reader, writer, far_reader, far_writer, rewrite=not request.tunnel)
        finally:
            far_writer.close()


async def _connect(
    addresses: list[str], port: int
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
    """The first of the checked addresses that answers (an IPv6 one may have no route)."""
    for address in addresses:
        try:
            return await asyncio.wait_for(asyncio.open_connection(address, port), CONNECT_SECONDS)
        except (OSError, TimeoutError):
            continue
    return None


class _Request:
    """The target of one proxied request and, for plain HTTP, the head to send on."""

    def __init__(self, host: str, port: int, tunnel: bool, forward_head: bytes = b"") -> None:
        self.host = host
        self.port = port
        self.tunnel = tunnel
        self.forward_head = forward_head

    @classmethod
    def parse(cls, head: bytes) -> _Request | None:
        """CONNECT host:port, or an absolute http:// request; None for anything else."""
        first, _, rest = head.partition(b"\r\n")
        parts = first.split(b" ")
        if len(parts) != 3:
            return None
        method, target, version = parts
        try:
            url = urlsplit(("//" if method == b"CONNECT" else "") + target.decode("ascii"))
            host, port = url.hostname, url.port
        except (UnicodeDecodeError, ValueError):
            return None
        if not host:
            return None
        if method == b"CONNECT":
            return cls(host, port or 443, tunnel=True)
        if url.scheme != "http":
            return None
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        line = b" ".join((method, path.encode("ascii"), version))
        return cls(host, port or 80, tunnel=False, forward_head=_one_shot(line, rest))


def _one_shot(first_line: bytes, rest: bytes) -> bytes:
    """A head with this hop's headers dropped and `Connection: close` (one request only)."""
    lines = [line for line in rest.split(b"\r\n") if line]
    upgrade = any(line.split(b":", 1)[0].strip().lower() == b"upgrade" for line in lines)
    kept = [line for line in lines if line.split(b":", 1)[0].strip().lower() not in HOP_HEADERS]
    kept.append(b"Connection: upgrade" if upgrade else b"Connection: close")
    return b"\r\n".join([first_line, *kept]) + b"\r\n\r\n"


async def _relay(
    near_reader: asyncio.StreamReader,
    near_writer: asyncio.StreamWriter,
    far_reader: asyncio.StreamReader,
    far_writer: asyncio.StreamWriter,
    *,
    rewrite: bool,
) -> None:
    """Copy both ways until one side closes; a plain-HTTP answer's head says `close`."""
    outward = asyncio.create_task(_copy(near_reader, far_writer))
    inward = asyncio.create_task(_copy(far_reader, near_writer, first_head=rewrite))
    try:
        await asyncio.wait({outward, inward}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (outward, inward):
            task.cancel()
        await asyncio.gather(outward, inward, return_exceptions=True)


async def _copy(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, first_head: bool = False
) -> None:
    with contextlib.suppress(OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
        if first_head:
            head = await reader.readuntil(b"\r\n\r\n")
            first, _, rest = head.partition(b"\r\n")
            # 101 (a WebSocket upgrade) keeps its connection; any other answer ends it, so
            # the browser never sends a second request down an already-checked connection.
            writer.write(head if b" 101 " in first else _one_shot(first, rest))
        while chunk := await reader.read(CHUNK):
            writer.write(chunk)
            await writer.drain()


async def _answer(writer: asyncio.StreamWriter, answer: bytes) -> None:
    writer.write(answer)
    with contextlib.suppress(OSError):
        await writer.drain()
