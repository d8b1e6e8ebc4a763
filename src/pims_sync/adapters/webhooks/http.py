"""The one HTTP client of a process for webhook deliveries, and its address guard.

Every connection is opened by `GuardedBackend`: it resolves the host itself, refuses it
unless every address is public (WEBHOOKS_ALLOW_PRIVATE lets private ones through), and
connects to a checked address, so a name that resolves elsewhere the second time (DNS
rebinding) cannot reach the internal network. TLS still verifies the URL's host name.
Redirects are not followed and proxies from the environment are not used: each would
lead somewhere that was not checked.
"""

from __future__ import annotations

import asyncio
import time
import typing
from collections.abc import Mapping

import httpcore
import httpx

from pims_sync import __version__
from pims_sync.adapters.webhooks.addresses import system_resolver
from pims_sync.domain.webhooks import check_addresses
from pims_sync.errors import WebhookUrlRefusedError
from pims_sync.ports.webhooks import Resolver, SendResult

USER_AGENT = f"pims-sync-webhooks/{__version__}"
MAX_ANSWER_BYTES = 4096  # what is kept of a receiver's answer (for `webhooks test`)
MAX_ERROR_CHARS = 300
RETRY_AFTER_STATUSES = (429, 503)


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Opens TCP connections only to checked addresses."""

    def __init__(self, *, allow_private: bool, resolve: Resolver = system_resolver) -> None:
        self._inner = httpcore.AnyIOBackend()
        self._allow_private = allow_private
        self._resolve = resolve

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        """Resolve, check every address, connect to the first that answers."""
        async with asyncio.timeout(timeout):
            addresses = await self._resolve(host.strip("[]"))
        check_addresses(host, addresses, allow_private=self._allow_private)
        failure: Exception | None = None
        for address in addresses:
            try:
                return await self._inner.connect_tcp(
                    address, port, timeout, local_address, socket_options
                )
            except (httpcore.ConnectError, httpcore.ConnectTimeout) as error:
                failure = error
        assert failure is not None  # noqa: S101 - check_addresses refused an empty list
        raise failure

    async def connect_unix_socket(
        self,
        path: str,  # noqa: ARG002
        timeout: float | None = None,  # noqa: ARG002
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,  # noqa: ARG002
    ) -> httpcore.AsyncNetworkStream:
        """Never: webhooks go over TCP."""
        raise httpcore.ConnectError("webhooks are not delivered to Unix sockets")

    async def sleep(self, seconds: float) -> None:
        """As the default backend does."""
        await self._inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport over a connection pool whose connections `GuardedBackend` opens."""

    def __init__(self, backend: GuardedBackend, limits: httpx.Limits) -> None:
        super().__init__(trust_env=False, limits=limits)
        # The same pool httpx builds, with our backend (httpx takes none as an argument).
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=httpx.create_ssl_context(trust_env=False),
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            network_backend=backend,
        )


class HttpWebhookSender:
    """The `WebhookSender`: one pooled client for the whole process, with timeouts."""

    def __init__(
        self,
        *,
        timeout_seconds: float = 10.0,
        allow_private: bool = False,
        resolve: Resolver = system_resolver,
        max_connections: int = 100,
    ) -> None:
        backend = GuardedBackend(allow_private=allow_private, resolve=resolve)
        limits = httpx.Limits(max_connections=max_connections, max_keepalive_connections=20)
        self._timeout = timeout_seconds
        self._client = httpx.AsyncClient(
            transport=GuardedTransport(backend, limits),
            timeout=httpx.Timeout(timeout_seconds, connect=min(timeout_seconds, 5.0)),
            follow_redirects=False,
            trust_env=False,
            headers={"User-Agent": USER_AGENT},
        )

    async def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
        """POST the body; what the receiver answered, or why it did not."""
        started = time.perf_counter()
        try:
            async with self._client.stream("POST", url, content=body, headers=headers) as answer:
                kept = await _first_bytes(answer)
        except WebhookUrlRefusedError as refused:
            return SendResult(None, _ms(started), error=f"refused: {refused.message}")
        except httpx.TimeoutException:
            return SendResult(None, _ms(started), error=f"timed out after {self._timeout:g} s")
        except httpx.HTTPError as error:
            return SendResult(None, _ms(started), error=_describe(error))
        return SendResult(
            answer.status_code,
            _ms(started),
            error=None if answer.is_success else f"answered {answer.status_code}",
            body=kept.decode("utf-8", errors="replace"),
            retry_after_seconds=_retry_after(answer),
        )

    async def aclose(self) -> None:
        """Close the pooled connections."""
        await self._client.aclose()


async def _first_bytes(answer: httpx.Response) -> bytes:
    """At most MAX_ANSWER_BYTES of the answer's body (the rest is not read)."""
    kept = b""
    async for chunk in answer.aiter_bytes():
        kept += chunk
        if len(kept) >= MAX_ANSWER_BYTES:
            break
    return kept[:MAX_ANSWER_BYTES]


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)


def _describe(error: httpx.HTTPError) -> str:
    """The failure's kind and the driver's words (no URL: its path may hold a token)."""
    detail = str(error).strip() or "no detail"
    text = f"{type(error).__name__}: {detail}"
    return text if len(text) <= MAX_ERROR_CHARS else text[: MAX_ERROR_CHARS - 1] + "…"


def _retry_after(answer: httpx.Response) -> float | None:
    """A 429's or 503's Retry-After in seconds (the HTTP-date form is not used here)."""
    if answer.status_code not in RETRY_AFTER_STATUSES:
        return None
    value = answer.headers.get("Retry-After", "").strip()
    return float(value) if value.isdigit() else None
