"""What a page in a clinic's browser context may reach (docs/security.md, sections 4 and 5).

- Its PIMS origin (scheme, host and port of the base URL): anything.
- Another origin: no page or frame load, and no request but a GET (no form posted, no
  fetch/XHR/beacon sent elsewhere). A GET of a script, style, font or image stays allowed:
  a real login page may load its form's script from a CDN.
- Never a loopback, private, link-local or unspecified address, however it is reached
  (IP literal, `localhost`, a name that resolves there, a redirect): every request leaves
  through the context's `EgressProxy`, which connects only to addresses checked here.

Blocked requests are counted and logged by kind and host only (never a path or a query).
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import logging
import socket
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

from playwright.async_api import BrowserContext, Request, Route
from playwright.async_api import Error as PlaywrightError

from pims_sync.adapters.idexx.egress import EgressProxy

log = logging.getLogger(__name__)

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# A host name's addresses (the system resolver by default; tests give their own).
Resolver = Callable[[str], Awaitable[list[str]]]
# (kind, host) -> how many requests were blocked.
Blocked = Counter[tuple[str, str]]

NAVIGATION = "navigation"  # a page or frame load of another origin
SEND = "send"  # a request other than GET to another origin (form post, fetch, XHR, beacon)
PRIVATE = "private address"  # loopback, private, link-local, unspecified (not the PIMS origin)
UNRESOLVED = "unresolved"  # a host name the resolver could not answer
# The blocked page load's error (`Request.failure`); the login tells it from other failures.
BLOCKED_FAILURE = "net::ERR_BLOCKED_BY_CLIENT"
DEFAULT_PORTS = {"http": 80, "https": 443}
RESOLVE_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class Origin:
    """Scheme, host and port of a URL (default ports filled in)."""

    scheme: str
    host: str
    port: int

    @classmethod
    def of(cls, url: str) -> Origin | None:
        """The origin of an http(s) URL; None for any other kind (data:, blob:, about:)."""
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError:
            return None
        default = DEFAULT_PORTS.get(parts.scheme)
        if default is None or not parts.hostname:
            return None
        return cls(parts.scheme, parts.hostname.lower(), port or default)


def is_public(address: IpAddress) -> bool:
    """Whether an address is globally routable (an IPv4-mapped IPv6 one by its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def _literal(host: str) -> IpAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return None


def _is_loopback_name(host: str) -> bool:
    name = host.rstrip(".")
    return name == "localhost" or name.endswith(".localhost")


async def system_resolver(host: str) -> list[str]:
    """The host's addresses from the system resolver (getaddrinfo, off the event loop)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


class ContextGuard:
    """The rules of one browser context, bound to one PIMS origin; its proxy and counts."""

    def __init__(
        self, base_url: str, *, blocked: Blocked | None = None, resolve: Resolver | None = None
    ) -> None:
        origin = Origin.of(base_url)
        if origin is None:
            raise ValueError("the PIMS base URL has no http(s) origin")
        self.origin = origin
        self.blocked: Blocked = blocked if blocked is not None else Counter()
        self._resolve = resolve or system_resolver
        # One lookup per host for the context's life; concurrent requests share it.
        self._lookups: dict[str, asyncio.Task[list[IpAddress]]] = {}
        self.proxy = EgressProxy(self.addresses)

    async def start(self) -> str:
        """Start the context's proxy; its URL (for `new_context(proxy=...)`)."""
        return await self.proxy.start()

    async def install(self, context: BrowserContext) -> None:
        """Check every request of the context's pages, frames and workers."""
        await context.route("**/*", self._route)

    def close(self) -> None:
        """Stop the proxy and any lookup under way."""
        self.proxy.close()
        for lookup in self._lookups.values():
            lookup.cancel()
        self._lookups.clear()

    async def addresses(self, host: str, port: int) -> list[str]:
        """Where the proxy may connect for host:port; [] when refused (counted)."""
        host = host.lower()
        if host == self.origin.host and port == self.origin.port:
            return [host]  # the PIMS itself, checked first: no lookup on its own requests
        literal = _literal(host)
        if literal is not None:
            return [str(literal)] if is_public(literal) else self._refuse(PRIVATE, host)
        if _is_loopback_name(host):
            return self._refuse(PRIVATE, host)
        found = await self._lookup(host)
        if not found:
            return self._refuse(UNRESOLVED, host)
        if not all(is_public(address) for address in found):
            return self._refuse(PRIVATE, host)  # one private address is enough: DNS may rotate
        return [str(address) for address in found]  # connect to these, not to a new lookup

    async def _lookup(self, host: str) -> list[IpAddress]:
        lookup = self._lookups.get(host)
        if lookup is None:
            lookup = asyncio.ensure_future(self._addresses_of(host))
            self._lookups[host] = lookup
        try:
            return await asyncio.shield(lookup)
        except (OSError, TimeoutError, ValueError):
            self._lookups.pop(host, None)  # a failed lookup is asked again next time
            return []

    async def _addresses_of(self, host: str) -> list[IpAddress]:
        found = await asyncio.wait_for(self._resolve(host), RESOLVE_SECONDS)
        return [ipaddress.ip_address(address.split("%", 1)[0]) for address in found]

    async def _route(self, route: Route) -> None:
        request = route.request
        target = Origin.of(request.url)
        kind = None if target == self.origin else _off_origin_kind(request)
        with contextlib.suppress(PlaywrightError):  # the page closed meanwhile
            if kind is None:
                await route.continue_()
                return
            self._refuse(kind, target.host if target else urlsplit(request.url).scheme)
            await route.abort("blockedbyclient")

    def _refuse(self, kind: str, host: str) -> list[str]:
        key = (kind, host)
        if key not in self.blocked:
            # A name that does not resolve is no attack (Chromium's own autofill lookup is
            # one when offline); everything else a page should never have asked for.
            level = logging.INFO if kind == UNRESOLVED else logging.WARNING
            log.log(level, "browser request blocked", extra={"kind": kind, "host": host})
        self.blocked[key] += 1
        return []


def _off_origin_kind(request: Request) -> str | None:
    """Why a request to another origin is blocked; None for a GET of a subresource."""
    if request.is_navigation_request():
        return NAVIGATION
    if request.method != "GET":
        return SEND
    return None
