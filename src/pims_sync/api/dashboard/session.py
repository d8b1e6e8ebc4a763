"""The dashboard's cookies: a sealed sign-in, CSRF tokens, one-time sign-in links.

The sign-in cookie holds the API key sealed with AES-256-GCM under a key derived from
DASHBOARD_SECRET: a changed or forged cookie does not open, and the key is not readable
from the cookie. CSRF tokens are an HMAC of a random per-browser value kept in a second
cookie (both `HttpOnly`, `SameSite=Strict`). The rules: docs/security.md.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass, field

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from pydantic import SecretStr

SESSION_COOKIE = "pims_dashboard"
CSRF_COOKIE = "pims_dashboard_csrf"
CSRF_FIELD = "csrf_token"
SESSION_SECONDS = 12 * 3600
LINK_SECONDS = 600
NONCE_BYTES = 12


def _derive(secret: SecretStr, purpose: str) -> bytes:
    """A 32-byte key for one purpose, so the sealing and the CSRF keys differ."""
    raw = secret.get_secret_value().encode("utf-8")
    return hmac.new(raw, f"pims-sync dashboard {purpose}".encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class Sealer:
    """Seals and opens sign-in cookies, makes and checks CSRF tokens."""

    secret: SecretStr
    lifetime: int = SESSION_SECONDS

    def seal(self, api_key: str, now: float | None = None) -> str:
        """The cookie value for a signed-in API key."""
        issued = int(time.time() if now is None else now)
        payload = json.dumps({"k": api_key, "t": issued}).encode("utf-8")
        nonce = secrets.token_bytes(NONCE_BYTES)
        sealed = AESGCM(_derive(self.secret, "session")).encrypt(nonce, payload, None)
        return _b64(nonce + sealed)

    def open(self, cookie: str | None, now: float | None = None) -> str | None:
        """The API key in a cookie; None when missing, forged, changed or expired."""
        if not cookie:
            return None
        try:
            raw = _unb64(cookie)
            payload = AESGCM(_derive(self.secret, "session")).decrypt(
                raw[:NONCE_BYTES], raw[NONCE_BYTES:], None
            )
            found = json.loads(payload)
            key, issued = str(found["k"]), int(found["t"])
        except (ValueError, InvalidTag, KeyError, TypeError):
            return None
        current = time.time() if now is None else now
        return key if 0 <= current - issued <= self.lifetime else None

    def csrf_token(self, browser: str) -> str:
        """The CSRF token of forms shown to the browser with this CSRF cookie value."""
        mac = hmac.new(_derive(self.secret, "csrf"), browser.encode("utf-8"), hashlib.sha256)
        return _b64(mac.digest())

    def csrf_ok(self, browser: str | None, token: str | None) -> bool:
        """Whether a form's token belongs to the browser's CSRF cookie."""
        if not browser or not token:
            return False
        return hmac.compare_digest(self.csrf_token(browser), token)


def new_browser_id() -> str:
    """A fresh CSRF cookie value."""
    return secrets.token_urlsafe(24)


@dataclass
class SignInLinks:
    """One-time sign-in links (the demo's): a token that stands for a key once, briefly.

    Kept in the process's memory: a link works only on the server that made it, once,
    and within LINK_SECONDS; the API key itself never appears in a URL.
    """

    lifetime: int = LINK_SECONDS
    _tokens: dict[str, tuple[str, float]] = field(default_factory=dict)

    def issue(self, api_key: str) -> str:
        """A new one-time token for the key."""
        token = secrets.token_urlsafe(32)
        self._tokens[token] = (api_key, time.monotonic() + self.lifetime)
        return token

    def redeem(self, token: str) -> str | None:
        """The key the token stands for, once; None if unknown, used or expired."""
        found = self._tokens.pop(token, None)
        if found is None:
            return None
        key, until = found
        return key if time.monotonic() <= until else None
