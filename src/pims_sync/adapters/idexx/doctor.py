"""`pims-sync doctor`: log in, read one day and a few consultations, report their shape.

The report describes the site, never its data (see shape.py): paths without queries,
cookie and field names without values, status codes, content types, sizes, JSON types and
the traits met. The data calls are raw GETs with the login's cookies and the adapter's
headers, so the report describes a payload even when the adapter's parser would refuse it.
The login is fresh: never read from the session cache, never saved into it.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.async_api import Error as PlaywrightError

from pims_sync.adapters.idexx import endpoints
from pims_sync.adapters.idexx.api import MAX_RESPONSE_BYTES, Cookie
from pims_sync.adapters.idexx.browser import BrowserPool
from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.idexx.login import log_in
from pims_sync.adapters.idexx.probe import Exchange, FormInput, Prober, form_inputs, origin
from pims_sync.adapters.idexx.provider import PAGE_DATA_MAX_BYTES
from pims_sync.adapters.idexx.shape import (
    CalendarShape,
    PageDataShape,
    calendar_list,
    calendar_shape,
    consultation_ids,
    login_traits,
    page_data_shape,
    read_body,
    spread,
)
from pims_sync.adapters.idexx.trace import LoginTrace
from pims_sync.errors import PimsError
from pims_sync.ports.provider import ClinicLogin

MAX_CONSULTATIONS = 3
LOOKBACK_DAYS = 7


@dataclass
class LoginSection:
    """How the login went."""

    ok: bool = False
    milliseconds: int = 0
    trace: LoginTrace = field(default_factory=LoginTrace)
    cookie_names: list[str] = field(default_factory=list)
    raw_form_inputs: list[FormInput] = field(default_factory=list)
    raw_page_read: bool = False  # whether the login page as served was read (a 2xx answer)


@dataclass
class ConsultationResult:
    """One consultation's page-data: what came back and its shape when it was an object."""

    outcome: str
    exchange: Exchange
    shape: PageDataShape | None = None


@dataclass
class Problem:
    """Why the doctor could not finish: the stage and the error's one-line message."""

    stage: str
    code: str
    message: str


@dataclass
class DoctorReport:
    """Everything `pims-sync doctor` found out; no personal data."""

    clinic_id: str
    day: date
    timezone: str
    origin: str
    login: LoginSection = field(default_factory=LoginSection)
    exchanges: list[Exchange] = field(default_factory=list)
    calendar: CalendarShape | None = None
    consultations_day: date | None = None
    consultations: list[ConsultationResult] = field(default_factory=list)
    problem: Problem | None = None
    extra_traits: set[str] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        """Whether the login and the calendar worked (traits or not)."""
        return self.problem is None

    def traits(self) -> list[str]:
        """Every tolerated trait met, sorted."""
        found = self.extra_traits | login_traits(self.login.trace)
        if self.calendar is not None:
            found |= self.calendar.traits
        for result in self.consultations:
            if result.shape is not None:
                found |= result.shape.traits
        return sorted(found)


async def examine(
    options: IdexxOptions, login: ClinicLogin, day: date | None = None
) -> DoctorReport:
    """Log in, fetch `day` (default: the clinic's today) and up to 3 consultations; report."""
    zone = login.zone
    base_url = (login.credentials.base_url or options.base_url).rstrip("/")
    report = DoctorReport(
        clinic_id=str(login.clinic_id),
        day=day or datetime.now(zone).date(),
        timezone=login.timezone,
        origin=origin(base_url),
    )
    anonymous = Prober(base_url, options, pages=True)
    try:
        await _probe_login_page(anonymous, report)
    finally:
        await anonymous.aclose()
    cookies = await _log_in(options, base_url, login, report)
    if cookies is None:
        return report
    prober = Prober(base_url, options, cookies=cookies)
    try:
        events = await _read_calendar(prober, report, zone)
        if events is not None:
            await _read_consultations(prober, report, events)
    finally:
        await prober.aclose()
    return report


async def _probe_login_page(prober: Prober, report: DoctorReport) -> None:
    exchange, body = await prober.get(
        "login page", endpoints.LOGIN_PATH, max_bytes=PAGE_DATA_MAX_BYTES
    )
    report.exchanges.append(exchange)
    report.login.raw_form_inputs = form_inputs(body)
    report.login.raw_page_read = exchange.error is None and 200 <= (exchange.status or 0) < 300


async def _log_in(
    options: IdexxOptions, base_url: str, login: ClinicLogin, report: DoctorReport
) -> list[Cookie] | None:
    """A fresh browser login with a trace; None (and the problem recorded) when it fails."""
    pool = BrowserPool(options)
    started = time.monotonic()
    try:
        async with pool.context(f"doctor-{login.clinic_id}", base_url) as context:
            cookies = await log_in(
                context,
                base_url=base_url,
                credentials=login.credentials,
                timeout=options.login_timeout_seconds,
                form_wait=options.login_form_wait_seconds,
                trace=report.login.trace,
            )
    except PimsError as error:
        report.problem = Problem("login", error.code, str(error))
        return None
    except PlaywrightError as error:  # the browser could not start: no login was tried
        first = error.message.splitlines()[0] if error.message else type(error).__name__
        report.problem = Problem("login", "browser_failed", f"the browser failed: {first}")
        return None
    finally:
        report.login.milliseconds = round((time.monotonic() - started) * 1000)
        await pool.aclose()
    report.login.ok = True
    raw = report.login.raw_form_inputs
    if report.login.raw_page_read and not any(_is_username(item) for item in raw):
        report.extra_traits.add("login form drawn by script")
    report.login.cookie_names = sorted({str(cookie.get("name", "")) for cookie in cookies})
    return cookies


async def _read_calendar(
    prober: Prober, report: DoctorReport, zone: ZoneInfo
) -> list[object] | None:
    """The day's calendar: its shape in the report, its events (None and a problem if unread)."""
    exchange, body = await prober.get(
        "calendar", _calendar_path(report.day), max_bytes=MAX_RESPONSE_BYTES
    )
    report.exchanges.append(exchange)
    kind, data = read_body(body)
    if kind == "json":
        report.calendar = calendar_shape(data, report.day, zone)
        _note_html_label(report, exchange)
    elif exchange.error is None:
        report.calendar = CalendarShape(envelope="HTML" if kind == "html" else kind)
    why = _calendar_failure(exchange, report.calendar)
    if why is not None:
        report.problem = Problem(
            "calendar", "pims_calendar_unreadable", f"IDEXX Neo calendar: {why}"
        )
        return None
    _, events, _ = calendar_list(data)
    return events


def _calendar_failure(exchange: Exchange, shape: CalendarShape | None) -> str | None:
    if exchange.error is not None:
        return exchange.error
    status = exchange.status or 0
    if not 200 <= status < 300:
        return f"HTTP {status}"
    if shape is None or not shape.readable:
        return f"not a list of events (the answer is: {shape.envelope if shape else 'empty'})"
    return None


async def _read_consultations(prober: Prober, report: DoctorReport, events: list[object]) -> None:
    """Up to 3 consultations of the day, or of the latest of the 7 days before that has some."""
    ids, source = consultation_ids(events), report.day
    for back in range(1, LOOKBACK_DAYS + 1):
        if ids:
            break
        source = report.day - timedelta(days=back)
        exchange, body = await prober.get(
            "calendar (earlier day)", _calendar_path(source), max_bytes=MAX_RESPONSE_BYTES
        )
        report.exchanges.append(exchange)
        kind, data = read_body(body)
        earlier = calendar_list(data)[1] if kind == "json" and exchange.error is None else None
        if earlier is None:
            return  # reported through the exchange; consultations are not essential
        ids = consultation_ids(earlier)
    if not ids:
        return
    report.consultations_day = source
    for consultation_id in spread(ids, MAX_CONSULTATIONS):
        report.consultations.append(await _read_consultation(prober, report, consultation_id))


async def _read_consultation(
    prober: Prober, report: DoctorReport, consultation_id: str
) -> ConsultationResult:
    exchange, body = await prober.get(
        "page-data", endpoints.consultation_path(consultation_id), max_bytes=PAGE_DATA_MAX_BYTES
    )
    report.exchanges.append(exchange)
    kind, data = read_body(body)
    if kind == "json":
        _note_html_label(report, exchange)
    status = exchange.status or 0
    if exchange.error is not None:
        return ConsultationResult(exchange.error, exchange)
    if status == 404:
        report.extra_traits.add("consultation not found (404)")
        return ConsultationResult("not found (404)", exchange)
    if not 200 <= status < 300:
        return ConsultationResult(f"HTTP {status}", exchange)
    if not isinstance(data, Mapping):
        return ConsultationResult(kind if kind != "json" else "not a JSON object", exchange)
    if data.get("success") is False:
        report.extra_traits.add("consultation not ready (200 success:false)")
        return ConsultationResult("refused (success: false)", exchange)
    return ConsultationResult("read", exchange, page_data_shape(data))


def _is_username(item: FormInput) -> bool:
    return item.name == "username" or item.type.lower() == "email"


def _note_html_label(report: DoctorReport, exchange: Exchange) -> None:
    if "html" in (exchange.content_type or "").lower():
        report.extra_traits.add("JSON served as text/html")


def _calendar_path(day: date) -> str:
    first = datetime.combine(day, datetime.min.time())
    last = first + timedelta(days=1, seconds=-1)
    return endpoints.calendar_path(endpoints.wall_clock(first), endpoints.wall_clock(last))
