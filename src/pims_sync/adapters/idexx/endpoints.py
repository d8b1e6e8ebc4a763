"""IDEXX Neo paths, query formats and CSS selectors: the only place they appear."""

from __future__ import annotations

from datetime import datetime
from urllib.parse import quote, urlencode

LOGIN_PATH = "/login"
HOME_PATH = "/"
CALENDAR_PATH = "/appointments/getCalendarEventData"
WALL_CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"

# Login form (spec idexx-neo §1.2); comma = "either".
USERNAME_INPUT = 'input[name="username"], input[type="email"]'
PASSWORD_INPUT = 'input[name="password"], input[type="password"]'  # noqa: S105
COMPANY_ID_INPUT = 'input[name="company_id"], input[type="company_id"]'
SUBMIT_BUTTON = 'button[type="submit"]'
LOGIN_ERROR = '.error-message, .alert-danger, [data-testid="login-error"], [role="alert"]'
TWO_FACTOR_INPUT = (
    'input[name="code"], input[name="otp"], input[autocomplete="one-time-code"], '
    'input[placeholder*="code" i]'
)

# Cookie names that prove a login (spec §1.2: "session" or "auth"; [OLD] also "token").
SESSION_COOKIE_MARKERS = ("session", "auth", "token")

JSON_HEADERS = {"Accept": "application/json", "X-Requested-With": "XMLHttpRequest"}


def wall_clock(moment: datetime) -> str:
    """A clinic-local wall-clock time as the calendar query wants it."""
    return moment.strftime(WALL_CLOCK_FORMAT)


def calendar_path(start_wall_clock: str, end_wall_clock: str) -> str:
    """Path and query of the calendar feed (space → %20, colon → %3A, as the site does)."""
    query = urlencode({"start": start_wall_clock, "end": end_wall_clock}, quote_via=quote)
    return f"{CALENDAR_PATH}?{query}"


def consultation_path(consultation_id: str) -> str:
    """Path of a consultation's page data."""
    return f"/consultations/{quote(consultation_id, safe='')}/page-data"


def is_login_path(path: str) -> bool:
    """Whether a URL path is the login page (a redirect there = session expired)."""
    return path.rstrip("/").endswith(LOGIN_PATH)


def is_session_cookie(name: str) -> bool:
    """Whether a cookie name looks like a session cookie."""
    lowered = name.lower()
    return any(marker in lowered for marker in SESSION_COOKIE_MARKERS)
