"""JSON calls to IDEXX Neo over HTTP with the session's cookies (see docs/provider.md).

Every session of the process sends through one shared `httpx.AsyncClient` (one
connection pool, `shared_client`) with its own cookie jar: the client itself keeps no
cookie, so a clinic's session cookie never goes out with another clinic's request.
Each call is paced by the clinic's RateLimiter, retried per the RetryPolicy on
transient failures, and classified into the PIMS error family; never an empty result.
Writes (`post`) are paced and counted the same way but never retried: see writes.py.
JSON is read by content whatever the Content-Type says; same-origin redirects are followed
(a few hops), a redirect to the login page or HTML instead of JSON is an expired session.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http.cookiejar import CookieJar, DefaultCookiePolicy
from urllib.parse import urlsplit

import httpx

from pims_sync.adapters.idexx import endpoints
from pims_sync.adapters.idexx.config import USER_AGENT
from pims_sync.adapters.idexx.ratelimit import RateLimiter
from pims_sync.adapters.idexx.writes import (
    WriteAnswer,
    failure_kind,
    read_write_body,
    transport_failure,
)
from pims_sync.domain.instants import assume_utc
from pims_sync.domain.retry import RetryPolicy, call_with_retry
from pims_sync.errors import (
    PimsNotFoundError,
    PimsNotReadyError,
    PimsPayloadError,
    PimsRefusedError,
    PimsRequestRejectedError,
    PimsRetriesExhaustedError,
    PimsSessionExpiredError,
    PimsUnavailableError,
)
from pims_sync.ports.metrics import NO_METRICS, MetricsSink
from pims_sync.ports.request_budget import RequestMeter

log = logging.getLogger(__name__)


def _without_queries(record: logging.LogRecord) -> bool:
    """httpx's request lines with the query strings cut: a patient search carries names."""
    if isinstance(record.args, tuple) and any(isinstance(a, httpx.URL) for a in record.args):
        record.args = tuple(
            a.copy_with(query=b"redacted") if isinstance(a, httpx.URL) and a.query else a
            for a in record.args
        )
    return True


# httpx logs each request's full URL (at INFO); whatever logging the process has, no query
# string of a PIMS request reaches a log line.
logging.getLogger("httpx").addFilter(_without_queries)

Cookie = dict[str, object]
# No answer is read into memory past this (callers may ask for less): a month of calendar
# at the plausible 400 events a day is ~15 MB.
MAX_RESPONSE_BYTES = 32 * 1024 * 1024
MAX_REDIRECTS = 5  # same-origin hops followed for one call
# At most this much of the PIMS's own words goes into an error (never into logs).
PIMS_TEXT_CHARS = 120
_REFUSALS = (False, 0, "false", "0")  # values of `success` that make a 200 JSON a refusal
# One process's connections to PIMS hosts, all clinics together; each clinic is held to
# PIMS_MAX_CONCURRENCY of them by its RateLimiter.
MAX_CONNECTIONS = 64
MAX_KEEPALIVE = 16


def shared_client(
    *, timeout: float, transport: httpx.AsyncBaseTransport | None = None
) -> httpx.AsyncClient:
    """The process's one HTTP client towards the PIMS: no cookie jar of its own."""
    return httpx.AsyncClient(
        timeout=timeout,
        follow_redirects=False,  # a redirect is information: login page or off-origin
        transport=transport,
        limits=httpx.Limits(
            max_connections=MAX_CONNECTIONS, max_keepalive_connections=MAX_KEEPALIVE
        ),
        # A jar that refuses every cookie: sessions keep theirs (IdexxApi._jar).
        cookies=CookieJar(policy=DefaultCookiePolicy(allowed_domains=[])),
    )


class IdexxApi:
    """Authenticated GETs returning parsed JSON; one instance per clinic session.

    `client` is the process's shared one (closed by its owner); without it the instance
    makes and closes its own.
    """

    def __init__(
        self,
        *,
        base_url: str,
        limiter: RateLimiter,
        retry: RetryPolicy,
        timeout: float,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: MetricsSink = NO_METRICS,
        user_agent: str = USER_AGENT,
        meter: RequestMeter | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> None:
        # The login browser's user agent, so data calls look like the page's own XHR.
        headers = dict(endpoints.JSON_HEADERS, Referer=f"{base_url}/")
        headers["User-Agent"] = user_agent
        self._headers = headers
        self._base = httpx.URL(base_url if base_url.endswith("/") else f"{base_url}/")
        self._origin = _origin(base_url)
        self._limiter = limiter
        self._retry = retry
        self._owns_client = client is None
        self._client = client or shared_client(timeout=timeout, transport=transport)
        self._jar = httpx.Cookies()  # this session's cookies only
        self.requests_sent = 0
        self._metrics = metrics  # told of every request: endpoint, status or error kind
        self._meter = meter

    def use_cookies(self, cookies: list[Cookie]) -> None:
        """Replace the session cookies (after a login or from the cache)."""
        self._jar.clear()
        for cookie in cookies:
            self._jar.set(
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
            for c in self._jar.jar
        ]

    def _url(self, target: str) -> httpx.URL:
        """A path under the base URL (as httpx's base_url joins it), or an absolute URL."""
        url = httpx.URL(target)
        if not url.is_relative_url:
            return url
        return self._base.copy_with(raw_path=self._base.raw_path + url.raw_path.lstrip(b"/"))

    async def _open(
        self,
        method: str,
        target: str,
        *,
        headers: dict[str, str] | None = None,
        json_body: object = None,
        files: dict[str, tuple[None, str]] | None = None,
    ) -> httpx.Response:
        """Send one request with this session's cookies (body unread); the jar takes new ones."""
        request = self._client.build_request(
            method,
            self._url(target),
            headers={**self._headers, **(headers or {})},
            json=json_body,
            files=files,
        )
        self._jar.set_cookie_header(request)
        response = await self._client.send(request, stream=True)
        self._jar.extract_cookies(response)
        return response

    async def get_json(
        self,
        endpoint: str,
        path: str,
        *,
        max_bytes: int = MAX_RESPONSE_BYTES,
        refusal_means_not_ready: bool = False,
        check: Callable[[bytes], None] | None = None,
    ) -> object:
        """GET `path` and return its JSON, retrying transient failures per the policy.

        A body larger than `max_bytes` (decoded) is a PimsPayloadError, read no further.
        A 200 `{"success": false}` is retried (PimsRefusedError), or with
        `refusal_means_not_ready` a PimsNotReadyError at once (skip the item this run).
        `check`, if given, sees a 2xx body before it is parsed and may refuse it.
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
                lambda: self._get_once(endpoint, path, max_bytes, refusal_means_not_ready, check),
                on_retry=note_retry,
            )
        except PimsRefusedError as error:
            raise PimsRetriesExhaustedError(
                f"IDEXX Neo {endpoint} refused the request (success: false) on all "
                f"{self._retry.max_attempts} attempts{error.context.get('said') or ''}",
                endpoint=endpoint,
            ) from error
        except PimsUnavailableError as error:
            last = f"HTTP {error.status}" if error.status else str(error)
            raise PimsRetriesExhaustedError(
                f"IDEXX Neo {endpoint} still failing after {self._retry.max_attempts} attempts "
                f"(last: {last})",
                endpoint=endpoint,
                status=error.status,
            ) from error

    async def _get_once(
        self,
        endpoint: str,
        path: str,
        max_bytes: int,
        refusal_means_not_ready: bool,
        check: Callable[[bytes], None] | None = None,
    ) -> object:
        target = path
        for _ in range(MAX_REDIRECTS + 1):
            response, body = await self._send(endpoint, target, max_bytes)
            if not response.is_redirect:
                payload = self._classify(endpoint, response, body, check)
                _check_refusal(endpoint, payload, refusal_means_not_ready)
                return payload
            target = self._redirect_target(endpoint, response)
        raise PimsRequestRejectedError(
            f"IDEXX Neo {endpoint}: more than {MAX_REDIRECTS} redirects; not followed further",
            endpoint=endpoint,
        )

    async def get_page(self, endpoint: str, path: str, *, max_bytes: int) -> str:
        """GET an HTML page of the app (retried like the JSON reads); its text.

        A redirect to the login page, 401 or 403 is an expired session, as for JSON.
        """

        async def once() -> str:
            target = path
            for _ in range(MAX_REDIRECTS + 1):
                response, body = await self._send(endpoint, target, max_bytes, accept="text/html")
                if not response.is_redirect:
                    self._check_status(endpoint, response)
                    return body.decode(response.encoding or "utf-8", errors="replace")
                target = self._redirect_target(endpoint, response)
            raise PimsRequestRejectedError(
                f"IDEXX Neo {endpoint}: more than {MAX_REDIRECTS} redirects; not followed further",
                endpoint=endpoint,
            )

        try:
            return await call_with_retry(self._retry, once)
        except PimsUnavailableError as error:
            raise PimsRetriesExhaustedError(
                f"IDEXX Neo {endpoint} still failing after {self._retry.max_attempts} attempts",
                endpoint=endpoint,
                status=error.status,
            ) from error

    async def post(
        self,
        endpoint: str,
        path: str,
        *,
        json_body: object = None,
        form: dict[str, str] | None = None,
        csrf_token: str | None = None,
    ) -> WriteAnswer:
        """One POST, sent at most once: paced and counted like a read, never retried.

        Transport failures are typed by what they say of the write (writes.py); the answer
        (status, headers, body up to 1 MiB) is returned for the caller to classify. The
        body is never logged.
        """
        if self._meter is not None:
            await self._meter.spend()  # PimsBudgetExhaustedError: nothing was sent
        headers = {"X-CSRF-Token": csrf_token} if csrf_token else {}
        files = {name: (None, value) for name, value in (form or {}).items()} or None
        async with self._limiter.slot():
            started = time.monotonic()
            self.requests_sent += 1
            try:
                response = await self._open(
                    "POST",
                    path,
                    headers=headers,
                    json_body=json_body if form is None else None,
                    files=files,
                )
                try:
                    body = await read_write_body(response)
                finally:
                    await response.aclose()
            except httpx.TransportError as error:
                self._observe(endpoint, failure_kind(error), started)
                raise transport_failure(endpoint, error) from error
        self._observe(endpoint, response.status_code, started)
        return WriteAnswer(
            response.status_code, response.headers, body, self._login_redirect(response)
        )

    def _login_redirect(self, response: httpx.Response) -> bool:
        """Whether an answer is a redirect to the login page (the session was refused)."""
        target = response.next_request.url if response.next_request else None
        return (
            response.is_redirect
            and target is not None
            and _origin(str(target)) == self._origin
            and endpoints.is_login_path(target.path)
        )

    async def _send(
        self, endpoint: str, target: str, max_bytes: int, *, accept: str | None = None
    ) -> tuple[httpx.Response, bytes]:
        """One paced request (a redirect hop is one too): its response and 2xx body."""
        if self._meter is not None:
            await self._meter.spend()  # PimsBudgetExhaustedError once the day's are spent
        headers = {"Accept": accept} if accept else None
        async with self._limiter.slot():
            started = time.monotonic()
            self.requests_sent += 1
            try:
                response = await self._open("GET", target, headers=headers)
                try:
                    body = await _bounded_body(endpoint, response, max_bytes)
                finally:
                    await response.aclose()
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
        return response, body

    def _observe(self, endpoint: str, status: int | str, started: float) -> None:
        seconds = time.monotonic() - started
        log.debug(
            "pims request",
            extra={"endpoint": endpoint, "status": status, "duration_ms": round(seconds * 1000)},
        )
        self._metrics.pims_request(endpoint=endpoint, status=status, seconds=seconds)

    def _classify(
        self,
        endpoint: str,
        response: httpx.Response,
        body: bytes,
        check: Callable[[bytes], None] | None = None,
    ) -> object:
        self._check_status(endpoint, response)
        if check is not None:
            check(body)  # e.g. count elements before any JSON is built (budget.py)
        return _json_body(endpoint, response, body)

    def _check_status(self, endpoint: str, response: httpx.Response) -> None:
        """Raise the PIMS error a non-2xx answer means."""
        status = response.status_code
        if status in (401, 403):
            raise _session_expired(endpoint, f"HTTP {status}")
        if status == 404:
            raise PimsNotFoundError(f"IDEXX Neo {endpoint}: not found", endpoint=endpoint)
        if status == 429 or status >= 500:
            raise PimsUnavailableError(
                f"IDEXX Neo {endpoint}: HTTP {status}",
                endpoint=endpoint,
                status=status,
                retry_after=retry_after_seconds(response.headers.get("Retry-After")),
            )
        if status >= 300 or status < 200:  # 3xx here: a redirect without a location
            raise PimsRequestRejectedError(
                f"IDEXX Neo {endpoint}: HTTP {status}", endpoint=endpoint
            )

    def _redirect_target(self, endpoint: str, response: httpx.Response) -> str:
        """Where a redirect leads, if it may be followed: same origin, not the login page."""
        target = response.next_request.url if response.next_request else None
        if target is None or _origin(str(target)) != self._origin:
            raise PimsRequestRejectedError(
                f"IDEXX Neo {endpoint} redirected off its own origin; not followed",
                endpoint=endpoint,
            )
        if endpoints.is_login_path(target.path):
            raise _session_expired(endpoint, "redirected to the login page")
        return str(target)

    async def aclose(self) -> None:
        """Close the HTTP connection pool (only one this instance made itself)."""
        if self._owns_client:
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


def _session_expired(
    endpoint: str, symptom: str, message: str | None = None
) -> PimsSessionExpiredError:
    """The session refused: `symptom` is how the PIMS showed it (kept apart from the text)."""
    message = message or f"IDEXX Neo {endpoint}: {symptom}"
    return PimsSessionExpiredError(message, endpoint=endpoint, symptom=symptom)


def _too_large(endpoint: str, max_bytes: int) -> PimsPayloadError:
    return PimsPayloadError(
        f"IDEXX Neo {endpoint}: response larger than {max_bytes} bytes; not read",
        endpoint=endpoint,
    )


def _json_body(endpoint: str, response: httpx.Response, raw: bytes) -> object:
    """JSON read by content: a JSON body is data whatever its Content-Type label says."""
    body = raw.removeprefix(b"\xef\xbb\xbf").strip()
    try:
        return json.loads(body)
    except RecursionError:  # nested deeper than Python parses
        raise PimsPayloadError(f"IDEXX Neo {endpoint}: response is not JSON") from None
    except ValueError:
        pass
    content_type = response.headers.get("content-type", "").lower()
    # The site answers an expired session on XHR with its login page (200 + HTML).
    if body[:1] == b"<" or ("html" in content_type and body[:1] not in (b"{", b"[")):
        # Only a guess that the session expired: the message says so.
        symptom = "HTML where JSON was expected"
        raise _session_expired(
            endpoint, symptom, f"IDEXX Neo {endpoint}: {symptom} (session expired?)"
        )
    raise PimsPayloadError(f"IDEXX Neo {endpoint}: response is not JSON")


def _check_refusal(endpoint: str, payload: object, not_ready: bool) -> None:
    """A 200 `{"success": false, ...}` is the PIMS saying no: an error, never data."""
    if not isinstance(payload, dict) or not _is_refusal(payload.get("success")):
        return
    if not_ready:
        raise PimsNotReadyError(
            f"IDEXX Neo {endpoint}: not available yet (success: false)", endpoint=endpoint
        )
    said = _pims_text(payload.get("message") or payload.get("error"))
    raise PimsRefusedError(
        f"IDEXX Neo {endpoint} refused the request (success: false){said}",
        endpoint=endpoint,
        said=said,
    )


def _is_refusal(success: object) -> bool:
    if isinstance(success, str):
        return success.strip().lower() in _REFUSALS
    return success is False or (type(success) is int and success == 0)


def _pims_text(value: object) -> str:
    """The PIMS's own words for an error message: collapsed, at most 120 characters."""
    if not isinstance(value, str) or not value.strip():
        return ""
    return ": " + " ".join(value.split())[:PIMS_TEXT_CHARS]


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
    return max(0.0, (assume_utc(when) - (now or datetime.now(UTC))).total_seconds())


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
