"""Raw GETs for `pims-sync doctor`: what each answer was, even one the adapter would refuse.

Records paths (never queries), statuses, content types and sizes; bodies are handed to the
caller, never kept or logged. Same-origin redirects are followed (at most 5), as the data
calls do; a redirect to the login page or to another site ends the GET.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import urlsplit

import httpx

from pims_sync.adapters.idexx import endpoints
from pims_sync.adapters.idexx.api import Cookie
from pims_sync.adapters.idexx.config import IdexxOptions

MAX_REDIRECTS = 5
MAX_FORM_INPUTS = 40
PAGE_HEADERS = {"Accept": "text/html,application/xhtml+xml,*/*;q=0.8"}


@dataclass
class Exchange:
    """One GET as the doctor saw it: statuses (redirects included), content type, size."""

    endpoint: str
    statuses: list[int] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    content_type: str | None = None
    size: int = 0
    milliseconds: int = 0
    error: str | None = None

    @property
    def status(self) -> int | None:
        """The last status (after any redirect followed)."""
        return self.statuses[-1] if self.statuses else None


class Prober:
    """Raw GETs with the adapter's headers and the login's cookies; same-origin redirects.

    `pages=True`: as a browser asks for a page instead (HTML wanted, no XHR headers).
    """

    def __init__(
        self,
        base_url: str,
        options: IdexxOptions,
        *,
        cookies: Sequence[Cookie] = (),
        pages: bool = False,
    ) -> None:
        headers = PAGE_HEADERS.copy() if pages else dict(endpoints.JSON_HEADERS)
        headers.update({"Referer": f"{base_url}/", "User-Agent": options.user_agent})
        jar = httpx.Cookies()
        for cookie in cookies:
            jar.set(
                str(cookie["name"]),
                str(cookie["value"]),
                domain=str(cookie.get("domain") or ""),
                path=str(cookie.get("path") or "/"),
            )
        self._origin = origin(base_url)
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=headers,
            cookies=jar,
            timeout=options.request_timeout_seconds,
            follow_redirects=False,
        )

    async def get(self, endpoint: str, path: str, *, max_bytes: int) -> tuple[Exchange, bytes]:
        """GET `path`, following up to 5 same-origin redirects; never raises on an answer."""
        exchange = Exchange(endpoint)
        started = time.monotonic()
        body = b""
        try:
            body = await self._follow(exchange, path, max_bytes)
        except httpx.TimeoutException:
            exchange.error = "timed out"
        except httpx.TransportError as error:
            exchange.error = f"network error ({type(error).__name__})"
        exchange.milliseconds = round((time.monotonic() - started) * 1000)
        return exchange, body

    async def _follow(self, exchange: Exchange, path: str, max_bytes: int) -> bytes:
        url = path
        for _ in range(MAX_REDIRECTS + 1):
            async with self._client.stream("GET", url) as response:
                exchange.statuses.append(response.status_code)
                exchange.content_type = response.headers.get("content-type")
                if not response.is_redirect:
                    return await _bounded(exchange, response, max_bytes)
                target = response.next_request.url if response.next_request else None
            if target is None or origin(str(target)) != self._origin:
                host = target.host if target is not None else "?"
                exchange.redirects.append(f"//{host}{target.path if target else ''}")
                exchange.error = "redirected to another site (not followed)"
                return b""
            exchange.redirects.append(target.path)
            if endpoints.is_login_path(target.path):
                exchange.error = "redirected to the login page (session not accepted)"
                return b""
            url = str(target)
        exchange.error = f"more than {MAX_REDIRECTS} redirects"
        return b""

    async def aclose(self) -> None:
        """Close the HTTP connections."""
        await self._client.aclose()


async def _bounded(exchange: Exchange, response: httpx.Response, max_bytes: int) -> bytes:
    chunks: list[bytes] = []
    async for chunk in response.aiter_bytes():
        exchange.size += len(chunk)
        if exchange.size > max_bytes:
            exchange.error = f"larger than {max_bytes} bytes (not read further)"
            return b""
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class FormInput:
    """An input of a page's raw HTML: its name and type, never its value."""

    name: str
    type: str


def form_inputs(html: bytes) -> list[FormInput]:
    """The `<input>` elements of a page as served (before any script ran)."""
    parser = _InputParser()
    parser.feed(html.decode("utf-8", errors="replace"))
    return parser.inputs


class _InputParser(HTMLParser):
    """The names and types of a page's `<input>` elements (values are never kept)."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[FormInput] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag != "input" or len(self.inputs) >= MAX_FORM_INPUTS:
            return
        found = dict(attrs)
        name = (found.get("name") or "")[:60]
        self.inputs.append(FormInput(name=name, type=(found.get("type") or "text")[:20]))


def origin(url: str) -> str:
    """Scheme and host (with port) of a URL, lower case."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()
