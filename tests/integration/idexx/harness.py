"""The simulator in a background thread, its control API, and IDEXX providers pointed at it."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import psutil

from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.retry import RetryPolicy
from pims_sync.ports.provider import ClinicLogin
from pims_sync.settings import Settings
from pims_sync.simulator.config import DEFAULTS

FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.05, max_delay=0.2, max_retry_after=1.5)
CLINIC_ID = uuid.UUID("00000000-0000-4000-8000-000000001001")


class SimulatorControl:
    """The `/__sim__/` control API, synchronously (the simulator runs in its own thread)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self._http = httpx.Client(base_url=f"{base_url}/__sim__", timeout=10)

    def _post(self, path: str, body: dict[str, Any]) -> Any:
        response = self._http.post(path, json=body)
        response.raise_for_status()
        return response.json()

    def fault(self, **spec: Any) -> None:
        self._post("/faults", spec)

    def settings(self, **changes: Any) -> None:
        self._post("/settings", changes)

    def clear_day(self, day: str) -> None:
        """Delete every event of a clinic-day (YYYY-MM-DD)."""
        self._post(f"/days/{day}/clear", {})

    def add_appointment(self, **body: Any) -> dict[str, Any]:
        """Book behind the client's back (control API); the event as the feed shows it."""
        added: dict[str, Any] = self._post("/appointments", body)["appointment"]
        return added

    def expire_sessions(self) -> None:
        self._post("/sessions/expire", {})

    def stats(self) -> dict[str, Any]:
        result: dict[str, Any] = self._http.get("/stats").json()
        return result

    def logins(self) -> int:
        return int(self.stats()["logins"])

    def requests(self, endpoint: str) -> int:
        return int(self.stats()["endpoints"].get(endpoint, {}).get("requests", 0))

    def now(self) -> datetime:
        clock = self._http.get("/clock").json()
        return datetime.strptime(clock["now"], "%Y-%m-%d %H:%M:%S").replace(
            tzinfo=ZoneInfo(clock["timezone"])
        )

    def events(self, first: str, last: str) -> list[dict[str, Any]]:
        result: list[dict[str, Any]] = self._http.get(
            "/appointments", params={"start": first, "end": last}
        ).json()
        return result

    def past_consultation_ids(self) -> list[str]:
        """Consultation ids of yesterday's visits (they exist by now)."""
        yesterday = (self.now() - timedelta(days=1)).strftime("%Y-%m-%d")
        events = self.events(yesterday, yesterday)
        return [str(e["consultation_id"]) for e in events if e.get("consultation_id")]

    def clean(self) -> None:
        """No faults, default settings, zero stats."""
        self._post("/faults", {"clear": True})
        self._post(
            "/settings",
            {
                "profile": "standard",  # every in-the-wild trait off
                "loginVariant": "standard",
                "calendarEnvelope": "array",
                "sessionExpiredResponse": "redirect",
                "latencyMs": 0,
            },
        )
        self._post("/stats/reset", {})

    def close(self) -> None:
        self._http.close()


def idexx_options(base_url: str, **overrides: Any) -> IdexxOptions:
    """Options for tests: Debian Chromium headless, fast retries, the simulator as the PIMS."""
    values: dict[str, Any] = {"retry": FAST_RETRY, "request_timeout_seconds": 10.0}
    values.update(overrides)
    return IdexxOptions.from_settings(Settings(), base_url=base_url, headless=True, **values)


def clinic_login(
    *, password: str | None = None, clinic_id: uuid.UUID = CLINIC_ID, company_id: str | None = None
) -> ClinicLogin:
    """The simulator's first clinic, as stored credentials would describe it."""
    credentials = PimsCredentials(
        username=DEFAULTS.username,
        password=password or DEFAULTS.password,
        company_id=company_id or str(DEFAULTS.company_id),
    )
    return ClinicLogin(clinic_id=clinic_id, credentials=credentials, timezone=DEFAULTS.timezone)


def today_window(now: datetime) -> tuple[datetime, datetime]:
    """Yesterday and today, in the clinic's zone."""
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    return midnight - timedelta(days=1), midnight + timedelta(days=1)


def browser_pids() -> set[int]:
    """Chromium and Playwright driver (node) processes below this one."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            name = child.name().lower()
            if "chrom" in name or name == "node":
                pids.add(child.pid)
    return pids


def chromium_pids() -> set[int]:
    """The Chromium processes below this one (tests tell theirs apart by before and after)."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.NoSuchProcess):
            if "chrom" in child.name().lower():
                pids.add(child.pid)
    return pids
