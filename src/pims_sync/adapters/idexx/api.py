"""JSON calls to IDEXX Neo over HTTP with the session's cookies (see docs/provider.md).

Each call is paced by the clinic's RateLimiter, retried per the RetryPolicy on
transient failures, and classified into the PIMS error family; never an empty result.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from urllib.parse import urlsplit

import httpx

from pims_sync.adapters.idexx import endpoints
from pims_sync.adapters.idexx.ratelimit import RateLimiter
from pims_sync.domain.retry import RetryPolicy, call_with_retry
from pims_sync.errors import (
    PimsNotFoundError,
    PimsPayloadError,
    PimsRequestRejectedError,
    PimsRetriesExhaustedError,
    PimsSessionExpiredError,
    PimsUnavailableError,
)

log = logging.getLogger(__name__)

Cookie = dict[str, object]
# Told about every request: endpoint name, HTTP status (or "timeout"/"network"), seconds.
RequestObserver = Callable[[str, int | str, float], None]
# No answer is read into memory past this (callers may ask for less): a month of calendar
# at the plausible 400 events a day is ~15 MB.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


class IdexxApi:
    """Authenticated GETs returning parsed JSON; one instance per clinic session."""

    def __init__(
        self,
        *,
        base_url: str,
        limiter: RateLimiter,
        retry: RetryPolicy,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: RequestObserver | None = None,
    ) -> None:
        headers = dict(endpoints.JSON_HEADERS, Referer=f"{base_url}/")
        self._origin = _origin(base_url)
        self._limiter = limiter
        self._retry = retry
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,  # a redirect is information: login page or off-origin
            transport=transport,
            limits=httpx.Limits(max_connections=20, max_keepalive_connections=10),
        )
        self.requests_sent = 0
        self._observer = observer

    def set_user_agent(self, user_agent: str) -> None:
        """Send the browser's own user agent, so data calls look like the page's XHR."""
        self._client.headers["User-Agent"] = user_agent

    def use_cookies(self, cookies: list[Cookie]) -> None:
        """Replace the session cookies (after a login or from the cache)."""
        self._client.cookies.clear()
        for cookie in cookies:
            self._client.cookies.set(
                str(cookie["name"]),
                str(cookie["value"]),
                domain=str(cookie.get("domain") or ""),
                path=str(cookie.get("path") or "/"),
            )

    def cookies(self) -> list[Cookie]:
        """The current cookies (the site may refresh them), in Playwright's shape."""
        return [
            {
                "name": c.name,
                "value": c.value or "",
                "domain": c.domain,
                "path": c.path,
                "expires": float(c.expires) if c.expires else -1,
                "secure": c.secure,
            }
            for c in self._client.cookies.jar
        ]

    async def get_json(
        self, endpoint: str, path: str, *, max_bytes: int = MAX_RESPONSE_BYTES
    ) -> object:
        """GET `path` and return its JSON, retrying transient failures per the policy.

        A body larger than `max_bytes` (decoded) is a PimsPayloadError, read no further.
        """

        def note_retry(attempt: int, error: BaseException, delay: float) -> None:
            log.warning(
                "pims request retried",
                extra={
                    "endpoint": endpoint,
                    "attempt": attempt,
                    "delay_s": round(delay, 2),
                    "status": getattr(error, "status", None),
                },
            )

        try:
            return await call_with_retry(
                self._retry,
                lambda: self._get_once(endpoint, path, max_bytes),
                on_retry=note_retry,
            )
        except PimsUnavailableError as error:
            last = f"HTTP {error.status}" if error.status else str(error)
            raise PimsRetriesExhaustedError(
                f"IDEXX Neo {endpoint} still failing after {self._retry.max_attempts} attempts "
                f"(last: {last})",
                endpoint=endpoint,
                status=error.status,
            ) from error

    async def _get_once(self, endpoint: str, path: str, max_bytes: int) -> object:
        async with self._limiter.slot():
            started = time.monotonic()
            self.requests_sent += 1
            try:
                async with self._client.stream("GET", path) as response:
                    body = await _bounded_body(endpoint, response, max_bytes)
            except PimsPayloadError:
                self._observe(endpoint, response.status_code, started)  # answered, too large
                raise
            except httpx.TimeoutException as error:
                self._observe(endpoint, "timeout", started)
                raise PimsUnavailableError(
                    f"IDEXX Neo {endpoint} timed out", endpoint=endpoint
                ) from error
            except httpx.TransportError as error:
                self._observe(endpoint, "network", started)
                raise PimsUnavailableError(
                    f"IDEXX Neo {endpoint} unreachable: {type(error).__name__}", endpoint=endpoint
                ) from error
        self._observe(endpoint, response.status_code, started)
        return self._classify(endpoint, response, body)

    def _observe(self, endpoint: str, status: int | str, started: float) -> None:
        seconds = time.monotonic() - started
        log.debug(
            "pims request",
            extra={"endpoint": endpoint, "status": status, "duration_ms": round(seconds * 1000)},
        )
        if self._observer is not None:
            self._observer(endpoint, status, seconds)

    def _classify(self, endpoint: str, response: httpx.Response, body: bytes) -> object:
        status = response.status_code
        if response.is_redirect:
            self._redirect_error(endpoint, response)
        if status in (401, 403):
            raise PimsSessionExpiredError(f"IDEXX Neo {endpoint}: HTTP {status}", endpoint=endpoint)
        if status == 404:
            raise PimsNotFoundError(f"IDEXX Neo {endpoint}: not found", endpoint=endpoint)
        if status == 429 or status >= 500:
            raise PimsUnavailableError(
                f"IDEXX Neo {endpoint}: HTTP {status}",
                endpoint=endpoint,
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 400 or status < 200:
            raise PimsRequestRejectedError(
                f"IDEXX Neo {endpoint}: HTTP {status}", endpoint=endpoint
            )
        return _json_body(endpoint, response, body)

    def _redirect_error(self, endpoint: str, response: httpx.Response) -> None:
        target = response.next_request.url if response.next_request else None
        if target is None or _origin(str(target)) != self._origin:
            raise PimsRequestRejectedError(
                f"IDEXX Neo {endpoint} redirected off its own origin; not followed",
                endpoint=endpoint,
            )
        if endpoints.is_login_path(target.path):
            raise PimsSessionExpiredError(
                f"IDEXX Neo {endpoint}: redirected to the login page", endpoint=endpoint
            )
        raise PimsPayloadError(
            f"IDEXX Neo {endpoint}: unexpected redirect to {target.path}", endpoint=endpoint
        )

    async def aclose(self) -> None:
        """Close the HTTP connection pool."""
        await self._client.aclose()


async def _bounded_body(endpoint: str, response: httpx.Response, max_bytes: int) -> bytes:
    """A 2xx answer's body, refused past `max_bytes`; other answers are not read."""
    if not 200 <= response.status_code < 300:
        return b""
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > max_bytes:
        raise _too_large(endpoint, max_bytes)
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise _too_large(endpoint, max_bytes)
        chunks.append(chunk)
    return b"".join(chunks)


def _too_large(endpoint: str, max_bytes: int) -> PimsPayloadError:
    return PimsPayloadError(
        f"IDEXX Neo {endpoint}: response larger than {max_bytes} bytes; not read",
        endpoint=endpoint,
    )


def _json_body(endpoint: str, response: httpx.Response, raw: bytes) -> object:
    content_type = response.headers.get("content-type", "").lower()
    body = raw.lstrip()
    # The site answers an expired session on XHR with its login page (200 + HTML).
    if "html" in content_type or body[:1] == b"<":
        raise PimsSessionExpiredError(
            f"IDEXX Neo {endpoint}: HTML where JSON was expected (session expired?)",
            endpoint=endpoint,
        )
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # RecursionError: nested deeper than Python parses
        raise PimsPayloadError(f"IDEXX Neo {endpoint}: response is not JSON") from None


def retry_after_seconds(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds or HTTP date), else None."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass  # not seconds: an HTTP date
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
