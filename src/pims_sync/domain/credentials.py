"""PIMS credentials: the JSON document the original encrypts into `pims_credentials`."""

from __future__ import annotations

import hashlib
import ipaddress
import json
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

from pims_sync.errors import InvalidInputError

# The original's seed document writes `practiceId`; its later code reads `companyId`.
COMPANY_ID_KEYS = ("companyId", "practiceId")
PRIVATE_HINT = "set PIMS_ALLOW_PRIVATE_BASE_URL=true to allow a PIMS on a private network"

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


def _split(url: str) -> SplitResult:
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a bad port raises here
    except ValueError:
        raise InvalidInputError("base URL is not a valid URL") from None
    return parts


def validate_base_url(url: str) -> str:
    """An http(s) URL without its trailing slash, or InvalidInputError (never echoing it).

    No user or password (they would be sent to whoever the host is, and printed), no
    query and no fragment: the PIMS's paths are appended to it.
    """
    parts = _split(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInputError("base URL must be an http:// or https:// URL")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise InvalidInputError("base URL must not contain a user name or password")
    if parts.query or parts.fragment or url.rstrip().endswith(("?", "#")):
        raise InvalidInputError("base URL must not have a query (?…) or a fragment (#…)")
    return url.rstrip("/")


def _address(host: str) -> IpAddress | None:
    """The host as an IP address (browsers read '2852039166' and '0xa9.0xfe.…' as IPv4)."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        last = host.rstrip(".").rsplit(".", 1)[-1].lower()
        if not last.isdigit() and not last.startswith("0x"):
            return None  # a DNS name
        try:
            address = ipaddress.IPv4Address(socket.inet_aton(host.rstrip(".")))
        except OSError:
            raise InvalidInputError("base URL host is not a valid address") from None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _is_loopback(host: str, address: IpAddress | None) -> bool:
    name = host.rstrip(".").lower()
    if address is None:
        return name == "localhost" or name.endswith(".localhost")
    return address.is_loopback


def check_base_url(url: str, *, allow_private: bool = False) -> str:
    """A base URL the service may send a clinic's password to, or InvalidInputError.

    https only, except on loopback hosts (the simulator on 127.0.0.1, localhost, [::1]).
    Link-local addresses (169.254.x.x, fe80::, cloud metadata) are always refused; other
    non-public addresses (10.x, 192.168.x, …) unless `allow_private`. Host names are not
    resolved here: the browser's network guard refuses private addresses at run time.
    """
    url = validate_base_url(url)
    parts = _split(url)
    host = parts.hostname or ""
    address = _address(host)
    if _is_loopback(host, address):
        return url
    if parts.scheme != "https":
        raise InvalidInputError(
            "base URL must use https:// (http:// only on loopback hosts such as the simulator)"
        )
    if address is None:
        return url
    if address.is_link_local or address.is_multicast or address.is_unspecified:
        raise InvalidInputError("base URL host is a link-local or reserved address")
    if not address.is_global and not allow_private:
        raise InvalidInputError(f"base URL host is a private address; {PRIVATE_HINT}")
    return url


@dataclass(frozen=True, slots=True)
class PimsCredentials:
    """A clinic's PIMS login; the password never appears in repr or logs."""

    username: str
    password: str
    company_id: str | None = None
    base_url: str | None = None

    def __post_init__(self) -> None:
        if not self.username.strip():
            raise InvalidInputError("PIMS username must not be empty")
        if not self.password:
            raise InvalidInputError("PIMS password must not be empty")
        if self.base_url is not None:
            object.__setattr__(self, "base_url", validate_base_url(self.base_url))

    def __repr__(self) -> str:
        return (
            f"PimsCredentials(username={self.username!r}, password='***', "
            f"company_id={self.company_id!r}, base_url={self.base_url!r})"
        )

    __str__ = __repr__

    @classmethod
    def from_json(cls, text: str) -> PimsCredentials:
        """Parse the stored JSON; errors name the problem, never the values."""
        try:
            document = json.loads(text)
        except ValueError:
            raise InvalidInputError("stored PIMS credentials are not valid JSON") from None
        if not isinstance(document, dict):
            raise InvalidInputError("stored PIMS credentials are not a JSON object")
        for name in ("username", "password"):
            if not isinstance(document.get(name), str):
                raise InvalidInputError(f"stored PIMS credentials have no {name}")
        return cls(
            username=document["username"],
            password=document["password"],
            company_id=_optional_text(document, *COMPANY_ID_KEYS),
            base_url=_optional_text(document, "baseUrl"),
        )

    def to_json(self) -> str:
        """The JSON the original reads: `companyId` always present (empty when unknown)."""
        document = {
            "username": self.username,
            "password": self.password,
            "companyId": self.company_id or "",
        }
        if self.base_url:
            document["baseUrl"] = self.base_url
        return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def session_binding(base_url: str, credentials: PimsCredentials) -> str:
    """Who a PIMS session belongs to, as a hash: the base URL, username and company id."""
    owner = json.dumps([base_url.rstrip("/"), credentials.username, credentials.company_id or ""])
    return hashlib.sha256(f"pims-session:v1|{owner}".encode()).hexdigest()


def _optional_text(document: dict[str, object], *names: str) -> str | None:
    """The first non-empty value among these keys, as text (numbers are accepted)."""
    for name in names:
        value = document.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None
