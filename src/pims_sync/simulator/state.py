"""Simulated time, login sessions and request statistics."""

from __future__ import annotations

import secrets
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

SESSION_COOKIE = "neo_session"


class SimClock:
    """The clinic wall clock: real time by default, or set/advanced by the control API.

    Setting a time freezes the clock there (tests want statuses that do not drift); advancing
    keeps whatever mode it was in; `real()` returns to the machine's clock.
    """

    def __init__(self, timezone: str) -> None:
        self.zone = ZoneInfo(timezone)
        self._frozen: datetime | None = None
        self._offset = timedelta()

    def now(self) -> datetime:
        """Current simulated wall-clock time in the clinic's zone (naive, to the second)."""
        base = self._frozen or datetime.now(self.zone).replace(tzinfo=None)
        return (base + self._offset).replace(microsecond=0)

    def set(self, moment: datetime, *, frozen: bool = True) -> None:
        """Jump to `moment`; frozen unless asked to keep ticking from there."""
        real = datetime.now(self.zone).replace(tzinfo=None)
        self._frozen = moment if frozen else None
        self._offset = timedelta() if frozen else moment - real

    def advance(self, minutes: float) -> None:
        """Move the clock forward (or back, if negative)."""
        self._offset += timedelta(minutes=minutes)

    def real(self) -> None:
        """Back to the machine's clock."""
        self._frozen, self._offset = None, timedelta()

    def as_json(self) -> dict[str, Any]:
        """How the control API shows the clock."""
        return {
            "now": self.now().strftime("%Y-%m-%d %H:%M:%S"),
            "timezone": self.zone.key,
            "frozen": self._frozen is not None,
            "offsetMinutes": self._offset.total_seconds() / 60,
        }


@dataclass
class Session:
    """One logged-in browser: bound to one clinic, with simulated-time expiry."""

    token: str
    clinic_index: int
    created_at: datetime
    last_used_at: datetime
    # The token the app's pages carry (`<meta name="csrf-token">`) for the session's writes.
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(24))


class Sessions:
    """Session store; idle and absolute expiry are measured on the simulated clock."""

    def __init__(self) -> None:
        self._sessions: dict[str, Session] = {}

    def open(self, clinic_index: int, now: datetime) -> Session:
        """Start a session for a successful login."""
        session = Session(secrets.token_urlsafe(24), clinic_index, now, now)
        self._sessions[session.token] = session
        return session

    def use(
        self, token: str | None, now: datetime, *, idle: timedelta, absolute: timedelta
    ) -> Session | None:
        """The live session for this cookie (touched), or None if missing or expired."""
        session = self._sessions.get(token or "")
        if session is None:
            return None
        if now - session.last_used_at > idle or now - session.created_at > absolute:
            del self._sessions[session.token]
            return None
        session.last_used_at = max(now, session.last_used_at)
        return session

    def close(self, token: str | None) -> None:
        """Log out one session."""
        self._sessions.pop(token or "", None)

    def expire_all(self) -> int:
        """Forget every session (the server-side expiry the client must detect)."""
        count = len(self._sessions)
        self._sessions.clear()
        return count

    def __len__(self) -> int:
        return len(self._sessions)


class CsrfTokens:
    """The `_csrf` tokens of login forms handed out (the newest ones), checked on POST /login."""

    def __init__(self, keep: int = 10_000) -> None:
        self._keep = keep
        self._tokens: OrderedDict[str, None] = OrderedDict()

    def issue(self) -> str:
        """A fresh random token for one rendered form."""
        token = secrets.token_urlsafe(24)
        self._tokens[token] = None
        if len(self._tokens) > self._keep:
            self._tokens.popitem(last=False)
        return token

    def valid(self, token: object) -> bool:
        """Whether a posted token is one this simulator handed out."""
        return isinstance(token, str) and token in self._tokens


@dataclass
class EndpointStats:
    """Counts and latency of one endpoint."""

    requests: int = 0
    statuses: Counter[int] = field(default_factory=Counter)
    total_ms: float = 0.0
    max_ms: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """Shape shown by `/__sim__/stats`."""
        return {
            "requests": self.requests,
            "statuses": {str(code): count for code, count in sorted(self.statuses.items())},
            "meanMs": round(self.total_ms / self.requests, 3) if self.requests else 0.0,
            "maxMs": round(self.max_ms, 3),
        }


class Stats:
    """Per-endpoint request statistics and login outcomes."""

    def __init__(self) -> None:
        self.endpoints: dict[str, EndpointStats] = {}
        self.logins = 0
        self.login_failures = 0

    def record(self, endpoint: str, status: int, elapsed_ms: float) -> None:
        """Count one answered request."""
        entry = self.endpoints.setdefault(endpoint, EndpointStats())
        entry.requests += 1
        entry.statuses[status] += 1
        entry.total_ms += elapsed_ms
        entry.max_ms = max(entry.max_ms, elapsed_ms)

    def as_json(self) -> dict[str, Any]:
        """Everything, as `/__sim__/stats` returns it."""
        return {
            "endpoints": {name: entry.as_json() for name, entry in sorted(self.endpoints.items())},
            "totalRequests": sum(entry.requests for entry in self.endpoints.values()),
            "logins": self.logins,
            "loginFailures": self.login_failures,
        }
