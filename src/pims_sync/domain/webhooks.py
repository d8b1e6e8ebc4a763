"""Webhooks: where a clinic's events go, their secrets, URL rules and the retry schedule."""

from __future__ import annotations

import base64
import ipaddress
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from urllib.parse import urlsplit
from uuid import UUID

from pims_sync.domain.instants import iso
from pims_sync.domain.outbox import EventType
from pims_sync.errors import InvalidInputError, WebhookUrlRefusedError

SECRET_PREFIX = "whsec_"  # noqa: S105 - the form of a secret, not one
SECRET_BYTES = 32
MAX_URL_LENGTH = 2000
MAX_DESCRIPTION_LENGTH = 200
PRIVATE_HINT = "set WEBHOOKS_ALLOW_PRIVATE=true to deliver to a private network"

# The waits before each attempt at one event: the first is immediate, then these (the
# last repeats until the endpoint has failed for DISABLE_AFTER).
RETRY_DELAYS: tuple[timedelta, ...] = tuple(
    timedelta(seconds=s) for s in (0, 5, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
)
JITTER = 0.2  # each wait is drawn from ±20 % of the schedule's, so endpoints do not stampede
DISABLE_AFTER = timedelta(hours=24)
# A test event (`pims-sync webhooks test`) is not in the outbox: its log rows have seq 0.
TEST_EVENT_TYPE = "webhook.test"
TEST_SEQ = 0

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class DeliveryOutcome(StrEnum):
    """How one delivery attempt ended."""

    DELIVERED = "delivered"  # a 2xx: the cursor moved past the event
    FAILED = "failed"  # another status, a timeout, a refused or broken connection


@dataclass(frozen=True, slots=True)
class WebhookEndpoint:
    """A clinic's endpoint: its URL, what it wants, its cursor and retry state (no secret)."""

    id: UUID
    clinic_id: UUID
    url: str
    description: str | None
    event_types: tuple[str, ...] | None  # None: every type
    is_active: bool
    disabled_reason: str | None
    disabled_at: datetime | None
    delivered_seq: int
    attempt: int  # failed attempts at the event after the cursor
    next_attempt_at: datetime | None
    failing_since: datetime | None
    created_at: datetime
    # The row's version: every change writes a later one (`next_version`), and a delivery
    # job's writes are conditional on the one it read, so it never undoes a replay.
    updated_at: datetime

    def wants(self, event_type: str) -> bool:
        """Whether this endpoint receives events of this type."""
        return self.event_types is None or event_type in self.event_types


@dataclass(frozen=True, slots=True)
class DeliveryAttempt:
    """One attempt at delivering one event to one endpoint, as the delivery log keeps it."""

    endpoint_id: UUID
    clinic_id: UUID
    event_id: UUID
    seq: int
    attempt: int
    outcome: DeliveryOutcome
    status_code: int | None
    duration_ms: int
    error: str | None
    attempted_at: datetime


@dataclass(frozen=True, slots=True)
class NewEndpoint:
    """What adding an endpoint takes: checked URL, wanted types, a description."""

    clinic_id: UUID
    url: str
    event_types: tuple[str, ...] | None = None
    description: str | None = None


def new_secret() -> str:
    """A fresh signing secret in the Standard Webhooks form: `whsec_` + base64 of 32 bytes."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode("ascii")


def parse_event_types(names: Iterable[str] | None) -> tuple[str, ...] | None:
    """Known event type names, deduplicated in order; None (or empty) means every type."""
    if names is None:
        return None
    known = [kind.value for kind in EventType]
    wanted: list[str] = []
    for raw in names:
        name = raw.strip()
        if not name:
            continue
        if name not in known:
            raise InvalidInputError(
                f"unknown event type {name!r} (known: {', '.join(known)})", field="events"
            )
        if name not in wanted:
            wanted.append(name)
    return tuple(wanted) or None


def check_description(description: str | None) -> str | None:
    """A short label, or None; InvalidInputError when too long."""
    if description is None or not description.strip():
        return None
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise InvalidInputError(
            f"description must be at most {MAX_DESCRIPTION_LENGTH} characters",
            field="description",
        )
    return description.strip()


def check_webhook_url(url: str) -> str:
    """An http(s) URL with a host and no credentials or fragment, or WebhookUrlRefusedError.

    Only the form is checked here; where the host leads is `check_addresses`' (after a
    lookup). The URL is never echoed: its path or query may hold a token.
    """
    url = url.strip()
    if len(url) > MAX_URL_LENGTH:
        raise WebhookUrlRefusedError(f"the URL is longer than {MAX_URL_LENGTH} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise WebhookUrlRefusedError("the URL is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookUrlRefusedError("the URL must be an http:// or https:// URL with a host")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise WebhookUrlRefusedError(
            "the URL must not contain a user name or password (receivers check the signature)"
        )
    if parts.fragment or url.endswith("#"):
        raise WebhookUrlRefusedError("the URL must not have a fragment (#…)")
    return url


def url_host(url: str) -> str:
    """The URL's host, for logs and messages (never its path or query)."""
    return (urlsplit(url).hostname or "").lower()


def is_public(address: IpAddress) -> bool:
    """Whether an address is globally routable (an IPv4-mapped IPv6 one by its IPv4)."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def check_addresses(host: str, addresses: Sequence[str], *, allow_private: bool) -> None:
    """Refuse a host that resolves nowhere, or anywhere private, loopback or link-local.

    Every address must be public: a name with one private address among public ones could
    be answered with it on the next lookup. `allow_private` lets any address through.
    """
    if not addresses:
        raise WebhookUrlRefusedError(f"the URL's host {host} does not resolve")
    if allow_private:
        return
    for text in addresses:
        address = ipaddress.ip_address(text.split("%", 1)[0])
        if not is_public(address):
            raise WebhookUrlRefusedError(
                f"the URL's host {host} is a private, loopback or link-local address "
                f"({address}); {PRIVATE_HINT}"
            )


def retry_delay(failed_attempts: int, draw: float) -> timedelta:
    """The wait after this many failed attempts; `draw` in [0, 1) places it in the jitter."""
    index = min(failed_attempts, len(RETRY_DELAYS) - 1)
    base = RETRY_DELAYS[index].total_seconds()
    return timedelta(seconds=base * (1 - JITTER + 2 * JITTER * draw))


def next_version(current: datetime, at: datetime) -> datetime:
    """The version a change writes: `at`, or just after the current one if that is later."""
    return max(at, current + timedelta(microseconds=1))


def should_disable(failing_since: datetime, now: datetime) -> bool:
    """Whether an endpoint failing since then has failed long enough to be disabled."""
    return now - failing_since >= DISABLE_AFTER


def disabled_reason(failing_since: datetime) -> str:
    """Why an endpoint was disabled, as its row and the event say."""
    hours = int(DISABLE_AFTER.total_seconds() // 3600)
    return f"every delivery failed for {hours} h (since {iso(failing_since)})"
