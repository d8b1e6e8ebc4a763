"""IDEXX Neo paths, query formats and CSS selectors: the only place they appear."""

from __future__ import annotations

import re
from datetime import datetime
from urllib.parse import quote, urlencode

LOGIN_PATH = "/login"
CALENDAR_PATH = "/appointments/getCalendarEventData"
WALL_CLOCK_FORMAT = "%Y-%m-%d %H:%M:%S"

# Booking write-back (docs/idexx.md#creating-and-cancelling-appointments).
SEARCH_PATH = "/search/patients"
APPOINTMENT_PATH = "/appointments/getAppointment"
VIEW_PATH = "/appointments/getAppointmentView"
CREATE_PATH = "/appointments/create"
CLIENT_CREATE_PATH = "/clients/create"
PATIENT_CREATE_PATH = "/patients/create"
# The page the original opened to take the CSRF token from before a create.
CSRF_PAGE_PATH = "/appointments"
# Where a site keeps its CSRF token: meta tags, hidden inputs, cookies (names, any case).
CSRF_META_NAMES = ("csrf-token", "csrf_token", "_csrf", "x-csrf-token")
CSRF_INPUT_NAMES = ("csrf_token", "_csrf", "csrfmiddlewaretoken", "_token")
CSRF_COOKIE_NAMES = ("xsrf-token", "csrf_token", "_csrf", "csrftoken")
CSRF_HEADER = "X-CSRF-Token"

# Login form; comma = "either". The username field is waited for (a form may be drawn late).
USERNAME_INPUT = 'input[name="username"], input[type="email"]'
PASSWORD_INPUT = 'input[name="password"], input[type="password"]'  # noqa: S105
COMPANY_ID_INPUT = 'input[name="company_id"], input[type="company_id"]'
# Submit controls, tried in this order; the first visible one is clicked, so the page posts
# its own form (hidden fields such as a CSRF token go along).
SUBMIT_BUTTONS = (
    'button[type="submit"]',
    'input[type="submit"]',
    'button:text-matches("^\\s*(log ?in|sign ?in)\\s*$", "i")',
)
LOGIN_ERROR = '.error-message, .alert-danger, [data-testid="login-error"], [role="alert"]'
# Hidden inputs of the login form (recorded by name only: CSRF tokens and the like).
HIDDEN_FORM_INPUT = 'form:has(input[type="password"]) input[type="hidden"][name]'
# A drawn login form that is not the one we know (a password or submit input, no username).
OTHER_FORM = 'form:has(input[type="password"]), form:has(input[type="submit"])'
# A one-time-code input: a second factor only while still on a login path (a landing page's
# "Scan barcode or search" box may be named `code` too).
CODE_INPUT = (
    'input[name="code" i], input[name="otp" i], input[name^="one_time" i], '
    'input[autocomplete="one-time-code"]'
)
MAIN_HEADING = "h1"
# A URL path or main heading that asks for a second factor.
TWO_FACTOR_WORDS = re.compile(
    r"two[-_ ]?factor|multi[-_ ]?factor|\b2fa\b|\bmfa\b|verif(?:y|ication)", re.IGNORECASE
)

# Cookie names that prove a login ("session" or "auth", as the original checked; its
# predecessor also accepted "token").
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
    """Whether a URL path is a login page: `/login`, `/login/...`, `/.../login`, `/auth...`."""
    segments = [segment for segment in path.lower().split("/") if segment]
    if not segments:
        return False
    return segments[0] == "login" or segments[-1] == "login" or segments[0].startswith("auth")


def says_two_factor(text: str) -> bool:
    """Whether a URL path or a heading asks for a second factor (two-factor, 2FA, verify)."""
    return TWO_FACTOR_WORDS.search(text) is not None


def is_session_cookie(name: str) -> bool:
    """Whether a cookie name looks like a session cookie."""
    lowered = name.lower()
    return any(marker in lowered for marker in SESSION_COOKIE_MARKERS)


def search_path(query: str, limit: int) -> str:
    """Path and query of the patient search, with the flags the site's own search sends."""
    query_string = urlencode(
        {
            "q": query,
            "includeInactive": "false",
            "json": "true",
            "suggested": "true",
            "limit": str(limit),
            "escape": "false",
        },
        quote_via=quote,
    )
    return f"{SEARCH_PATH}?{query_string}"


def appointment_path(appointment_id: str) -> str:
    """Path of one appointment's details."""
    return f"{APPOINTMENT_PATH}?{urlencode({'id': appointment_id}, quote_via=quote)}"


def delete_path(appointment_id: str) -> str:
    """Path of an appointment's cancel / delete."""
    return f"/appointments/delete/{quote(appointment_id, safe='')}"
