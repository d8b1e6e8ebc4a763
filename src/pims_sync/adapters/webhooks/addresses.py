"""Where a webhook host leads: the system resolver, and the check every URL passes."""

from __future__ import annotations

import asyncio
import socket

from pims_sync.domain.webhooks import check_addresses, check_webhook_url, url_host
from pims_sync.errors import WebhookUrlRefusedError
from pims_sync.ports.webhooks import Resolver

RESOLVE_SECONDS = 10.0


async def system_resolver(host: str) -> list[str]:
    """The host's addresses from the system resolver (getaddrinfo, off the event loop)."""
    try:
        async with asyncio.timeout(RESOLVE_SECONDS):
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, None, type=socket.SOCK_STREAM
            )
    except (OSError, TimeoutError):
        return []
    return list(dict.fromkeys(str(info[4][0]) for info in infos))


async def check_destination(
    url: str, *, allow_private: bool, resolve: Resolver = system_resolver
) -> str:
    """The URL if its form is acceptable and its host resolves to public addresses only.

    WebhookUrlRefusedError otherwise, saying why (never echoing the URL's path or query).
    """
    url = check_webhook_url(url)
    host = url_host(url).strip("[]")
    try:
        addresses = await resolve(host)
    except OSError:
        addresses = []
    if not addresses:
        raise WebhookUrlRefusedError(f"the URL's host {host} does not resolve")
    check_addresses(host, addresses, allow_private=allow_private)
    return url
