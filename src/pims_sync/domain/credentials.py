"""PIMS credentials: the JSON document the original encrypts into `pims_credentials`."""

from __future__ import annotations

import json
from dataclasses import dataclass
from urllib.parse import urlsplit

from pims_sync.errors import InvalidInputError

# The original's seed document writes `practiceId`; its later code reads `companyId`.
COMPANY_ID_KEYS = ("companyId", "practiceId")


def validate_base_url(url: str) -> str:
    """An http(s) URL without its trailing slash, or InvalidInputError."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInputError("base URL must be an http:// or https:// URL")
    return url.rstrip("/")


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


def _optional_text(document: dict[str, object], *names: str) -> str | None:
    """The first non-empty value among these keys, as text (numbers are accepted)."""
    for name in names:
        value = document.get(name)
        if isinstance(value, str | int) and not isinstance(value, bool) and str(value).strip():
            return str(value).strip()
    return None
