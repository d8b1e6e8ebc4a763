"""IdexxProvider: the PimsProvider port for IDEXX Neo (browser login, HTTP data calls)."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime, timedelta
from typing import TypeVar
from uuid import UUID

import httpx

from pims_sync.adapters.idexx import endpoints
from pims_sync.adapters.idexx.api import (
    MAX_RESPONSE_BYTES,
    Cookie,
    IdexxApi,
    shared_client,
)
from pims_sync.adapters.idexx.booking_shapes import (
    appointment_form,
    client_payload,
    parse_created_client,
    parse_created_patient,
    parse_details,
    parse_search,
    parse_view,
    patient_payload,
)
from pims_sync.adapters.idexx.browser import BrowserPool
from pims_sync.adapters.idexx.browser_errors import crashed_twice
from pims_sync.adapters.idexx.budget import BodyCheck, JsonBudget, calendar_max_bytes
from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.idexx.login import log_in
from pims_sync.adapters.idexx.page_data import parse_consultation
from pims_sync.adapters.idexx.parsing import parse_calendar
from pims_sync.adapters.idexx.ratelimit import RateLimiter
from pims_sync.adapters.idexx.trace import LoginTrace
from pims_sync.adapters.idexx.writer import CSRF_PAGE_MAX_BYTES, IdexxWriter
from pims_sync.domain.appointments import CalendarPage
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.credentials import session_binding
from pims_sync.domain.leases import Leased
from pims_sync.domain.pims_writes import (
    AppointmentDetails,
    AppointmentRequest,
    AppointmentView,
    CancelAction,
    NewClient,
    NewPatient,
    PatientMatch,
    PimsClient,
    PimsPatient,
    check_appointment_id,
    check_cancel,
    check_search,
)
from pims_sync.domain.retry import call_with_retry
from pims_sync.errors import (
    BrowserCrashedError,
    PimsPayloadError,
    PimsRequestRejectedError,
    PimsRetriesExhaustedError,
    PimsSessionExpiredError,
    PimsUnavailableError,
    PimsWriteOutcomeUnknownError,
)
from pims_sync.ports.metrics import NO_METRICS, MetricsSink
from pims_sync.ports.provider import ClinicLogin, check_window
from pims_sync.ports.session_cache import SessionCache

log = logging.getLogger(__name__)

NAME = "IDEXX Neo"
# A consultation's page-data is a few kB; its notes may be up to 1 MiB (page_data.py): past
# 4 MiB the answer is refused unread, for that consultation only.
PAGE_DATA_MAX_BYTES = 4 * 1024 * 1024
T = TypeVar("T")


class IdexxProvider:
    """Opens IDEXX Neo sessions for clinics; owns the process's single browser."""

    name = NAME

    def __init__(
        self,
        options: IdexxOptions,
        *,
        session_cache: SessionCache | None = None,
        pool: BrowserPool | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        metrics: MetricsSink = NO_METRICS,
    ) -> None:
        self.options = options
        self.session_cache = session_cache
        self.pool = pool or BrowserPool(options, on_change=metrics.browser_contexts_open)
        self.transport = transport
        self.metrics = metrics
        self.logins = 0
        self._http: httpx.AsyncClient | None = None
        # Each clinic's pacing while it has a session open here, then dropped (limits.py).
        self._limiters: Leased[UUID, RateLimiter] = Leased(
            lambda: RateLimiter(
                concurrency=self.options.max_concurrency,
                rate=self.options.rate_limit_per_second,
            )
        )

    @property
    def http(self) -> httpx.AsyncClient:
        """The process's one HTTP client towards the PIMS (every clinic's sessions)."""
        if self._http is None:
            self._http = shared_client(
                timeout=self.options.request_timeout_seconds, transport=self.transport
            )
        return self._http

    @property
    def limiters_held(self) -> int:
        """Clinics whose pacing this process holds now (those with a session open)."""
        return len(self._limiters)

    @asynccontextmanager
    async def session(
        self, login: ClinicLogin, *, trace: LoginTrace | None = None
    ) -> AsyncIterator[IdexxSession]:
        """A logged-in session (cached cookies when still valid, else a fresh login).

        `trace`, when given, records how the session's logins went (for `pims-sync doctor`).
        """
        with self._limiters.hold(login.clinic_id) as limiter:
            session = IdexxSession(self, login, limiter, trace=trace)
            try:
                await session.open()
                yield session
            finally:
                await session.close()

    async def aclose(self) -> None:
        """Close the browser, Playwright and the HTTP client."""
        await self.pool.aclose()
        http, self._http = self._http, None
        if http is not None:
            await http.aclose()


class IdexxSession:
    """One clinic's session: paced, retried JSON calls; renews an expired session once."""

    def __init__(
        self,
        provider: IdexxProvider,
        login: ClinicLogin,
        limiter: RateLimiter,
        *,
        trace: LoginTrace | None = None,
    ) -> None:
        options = provider.options
        self._provider = provider
        self._login = login
        self._options = options
        base_url = login.credentials.base_url or options.base_url
        self._base_url = base_url
        # The cached session is used only by the login (and base URL) that opened it.
        self._binding = session_binding(base_url, login.credentials)
        self._api = IdexxApi(
            base_url=base_url,
            limiter=limiter,
            retry=options.retry,
            timeout=options.request_timeout_seconds,
            client=provider.http,
            metrics=provider.metrics,
            user_agent=options.user_agent,  # the login browser's, for cached sessions too
            meter=login.meter,  # the clinic's daily PIMS request budget
        )
        self._trace = trace
        self._renewal = asyncio.Lock()
        self._generation = 0
        # A login the PIMS rejected right away: logging in again would not help.
        self._rejected_generation: int | None = None
        self._closed = False
        self.logins = 0
        self.from_cache = False
        self.writer = IdexxWriter(
            self._api,
            page=self._token_page,
            generation=lambda: self._generation,
            renew=self._renew,
        )

    @property
    def requests_sent(self) -> int:
        """HTTP requests sent to the PIMS through this session (retries included)."""
        return self._api.requests_sent

    async def open(self) -> None:
        """Reuse the cached session if there is a valid one, else log in."""
        cache = self._provider.session_cache
        cached = await cache.load(self._login.clinic_id, self._binding) if cache else None
        cookies = _cookie_list(cached) if cached is not None else None
        if cookies:
            self._api.use_cookies(cookies)
            self.from_cache = True
            log.info(
                "pims session reused from cache", extra={"clinic_id": str(self._login.clinic_id)}
            )
            return
        await self._log_in()

    async def _log_in(self) -> None:
        crashes = 0

        async def attempt() -> list[Cookie]:
            nonlocal crashes
            try:
                return await self._log_in_once()
            except BrowserCrashedError as error:
                crashes += 1
                if crashes > 1:  # the relaunched Chromium died too: a third would as well
                    raise crashed_twice(error) from error
                log.warning("browser stopped during the login; relaunching it for one retry")
                raise

        try:
            cookies = await call_with_retry(self._options.retry, attempt)
        except BrowserCrashedError as error:  # a policy of one attempt: no retry was left
            raise crashed_twice(error) from error
        except PimsUnavailableError as error:
            raise PimsRetriesExhaustedError(
                f"IDEXX Neo login still failing after {self._options.retry.max_attempts} "
                f"attempts (last: {error})",
                endpoint="login",
            ) from error
        self._api.use_cookies(cookies)
        self._generation += 1
        self.logins += 1
        self._provider.logins += 1
        if self._provider.session_cache is not None:
            await self._provider.session_cache.save(
                self._login.clinic_id, json.dumps(cookies), self._binding
            )

    async def _log_in_once(self) -> list[Cookie]:
        if self._login.logins is not None:
            # Counted before the browser opens: past the day's budget, no login is tried.
            await self._login.logins.spend()
        pool = self._provider.pool
        async with pool.context(str(self._login.clinic_id), self._base_url) as context:
            return await log_in(
                context,
                base_url=self._base_url,
                credentials=self._login.credentials,
                timeout=self._options.login_timeout_seconds,
                form_wait=self._options.login_form_wait_seconds,
                trace=self._trace,
            )

    async def _call(
        self,
        endpoint: str,
        path: str,
        *,
        max_bytes: int = MAX_RESPONSE_BYTES,
        refusal_means_not_ready: bool = False,
        check: BodyCheck | None = None,
    ) -> object:
        def get() -> Awaitable[object]:
            return self._api.get_json(
                endpoint,
                path,
                max_bytes=max_bytes,
                refusal_means_not_ready=refusal_means_not_ready,
                check=check,
            )

        return await self._renewing(endpoint, get)

    async def _token_page(self) -> str:
        """The page that carries the CSRF token (an expired session renewed as for reads)."""

        def get() -> Awaitable[str]:
            path = endpoints.CSRF_PAGE_PATH
            return self._api.get_page("csrf-page", path, max_bytes=CSRF_PAGE_MAX_BYTES)

        return await self._renewing("csrf-page", get)

    async def _renewing(self, endpoint: str, get: Callable[[], Awaitable[T]]) -> T:
        """A read; on an expired session, one fresh login and the read again."""
        self._check_open()
        generation = self._generation
        try:
            return await get()
        except PimsSessionExpiredError as error:
            if generation == self._rejected_generation:
                # This session's login was rejected at once already: another one would be too.
                raise _rejected_after_login(endpoint, error) from error
            log.info("pims session expired; logging in again", extra={"endpoint": endpoint})
            await self._renew(generation)
        try:
            return await get()
        except PimsSessionExpiredError as error:
            self._rejected_generation = self._generation
            raise _rejected_after_login(endpoint, error) from error

    def _check_open(self) -> None:
        if self._closed:
            raise RuntimeError("the PIMS session is closed")

    async def _renew(self, generation: int) -> None:
        # Concurrent calls that hit the same expiry share one login.
        async with self._renewal:
            if generation != self._generation:
                return
            if self._provider.session_cache is not None:
                await self._provider.session_cache.forget(self._login.clinic_id)
            await self._log_in()

    async def fetch_appointments(self, start: datetime, end: datetime) -> CalendarPage:
        """The calendar for [start, end): one request, clinic wall-clock bounds."""
        check_window(start, end)
        zone = self._login.zone
        first = endpoints.wall_clock(start.astimezone(zone))
        last = endpoints.wall_clock((end - timedelta(seconds=1)).astimezone(zone))
        days = max(1, -(-(end - start) // timedelta(days=1)))
        max_events = days * self._options.max_events_per_day
        # Bytes and element counts are bounded before the JSON is built (budget.py).
        payload = await self._call(
            "calendar",
            endpoints.calendar_path(first, last),
            max_bytes=calendar_max_bytes(days),
            check=JsonBudget.for_calendar(max_events),
        )
        # The feed returns events overlapping the window, and so does the port: a stay that
        # began days before is listed; events wholly outside are ignored and counted.
        page = parse_calendar(payload, zone, max_events=max_events, window=(start, end))
        log.info(
            "pims calendar fetched",
            extra={
                "appointments": len(page),
                "blocks": page.blocks,
                "rosters": page.rosters,
                "staff_unreadable": page.staff_unreadable,
                "rejected": len(page.rejected),
                "outside_window": page.outside_window,
                "coerced": page.coerced,
            },
        )
        return page

    async def fetch_consultation(self, consultation_id: str) -> Consultation:
        """One consultation's page data; a 200 refusal is PimsNotReadyError (skip, next run)."""
        path = endpoints.consultation_path(consultation_id)
        payload = await self._call(
            "page-data",
            path,
            max_bytes=PAGE_DATA_MAX_BYTES,
            refusal_means_not_ready=True,
            check=JsonBudget.for_page_data(),
        )
        return parse_consultation(payload, consultation_id)

    # --- booking write-back (docs/provider.md#writes) -------------------------------------------

    async def search_patients(self, query: str, limit: int) -> list[PatientMatch]:
        """The site's patient search (suggested, then the rest), at most `limit` patients."""
        text = check_search(query, limit)
        payload = await self._call("search", endpoints.search_path(text, limit))
        return parse_search(payload, limit)

    async def get_appointment(self, appointment_id: str) -> AppointmentDetails:
        """One appointment (cancelled ones too); PimsNotFoundError when absent."""
        check_appointment_id(appointment_id)
        payload = await self._call("appointment", endpoints.appointment_path(appointment_id))
        return parse_details(payload, appointment_id, self._login.zone)

    async def appointment_view(self) -> AppointmentView:
        """Types, rooms (columns), providers and hours of the clinic's calendar."""
        return parse_view(await self._call("view", endpoints.VIEW_PATH))

    async def create_client(self, new: NewClient) -> PimsClient:
        """POST /clients/create (JSON), once; the new client."""
        self._check_open()
        payload = await self.writer.send(
            "clients-create",
            endpoints.CLIENT_CREATE_PATH,
            json_body=client_payload(new),
            needs_success=True,
        )
        return _created("clients-create", lambda: parse_created_client(payload))

    async def create_patient(self, new: NewPatient, client: PimsClient) -> PimsPatient:
        """POST /patients/create (JSON), once; the new patient of `client`."""
        self._check_open()
        payload = await self.writer.send(
            "patients-create",
            endpoints.PATIENT_CREATE_PATH,
            json_body=patient_payload(new, client),
            needs_success=True,
        )
        return _created("patients-create", lambda: parse_created_patient(payload, client))

    async def create_appointment(self, request: AppointmentRequest) -> None:
        """POST /appointments/create (multipart), once; IDEXX answers with no id."""
        self._check_open()
        form = appointment_form(request, self._login.zone)  # refused before anything is sent
        await self.writer.send("create", endpoints.CREATE_PATH, form=form, needs_success=True)

    async def cancel_appointment(
        self, appointment_id: str, reason: str, action: CancelAction = "cancel"
    ) -> None:
        """POST /appointments/delete/{id} (JSON `{action, reason}`), once."""
        self._check_open()
        check_cancel(appointment_id, action)
        await self.writer.send(
            "delete",
            endpoints.delete_path(appointment_id),
            json_body={"action": action, "reason": reason},
            needs_success=False,  # the original judged a cancel by its 2xx alone
        )

    async def close(self) -> None:
        """Remember the (possibly refreshed) cookies, close HTTP, let idle contexts go."""
        if self._closed:
            return
        self._closed = True
        cache = self._provider.session_cache
        try:
            if cache is not None and self._generation + int(self.from_cache) > 0:
                await cache.touch(self._login.clinic_id, json.dumps(self._api.cookies()))
        except Exception:
            # Best effort: the cache only saves a login. A database outage must neither
            # fail a run that worked nor hide the error of one that did not.
            log.warning("could not remember the PIMS session (next run logs in)", exc_info=True)
        finally:
            await self._api.aclose()
            await self._provider.pool.close_idle()
            if self._login.meter is not None:
                await self._login.meter.flush()  # logs a failure, never raises one


async def check_credentials(options: IdexxOptions, login: ClinicLogin) -> float:
    """Log in once (never from or into the cache) and return the seconds it took."""
    provider = IdexxProvider(options)
    started = time.monotonic()
    try:
        async with provider.session(login):
            return time.monotonic() - started
    finally:
        await provider.aclose()


def _rejected_after_login(
    endpoint: str, error: PimsSessionExpiredError
) -> PimsRequestRejectedError:
    """The PIMS refused a session it had just opened; the message says how it refused."""
    # How, not why: an expired session is no explanation for one that is brand new.
    how = error.symptom or "the session was refused"
    return PimsRequestRejectedError(
        f"IDEXX Neo {endpoint} rejected the session again right after a fresh login: {how}",
        endpoint=endpoint,
    )


def _created(endpoint: str, read: Callable[[], T]) -> T:
    """The new record of an accepted create; without its id the outcome is unknown."""
    try:
        return read()
    except PimsPayloadError as error:
        raise PimsWriteOutcomeUnknownError(
            f"IDEXX Neo {endpoint} accepted the write but its answer has no new id: the "
            "record may have been created; search before creating it again",
            endpoint=endpoint,
        ) from error


def _cookie_list(cached: str) -> list[Cookie] | None:
    """Cached cookies, or None when the row is unreadable (then we simply log in)."""
    try:
        cookies = json.loads(cached)
    except ValueError:
        return None
    if not isinstance(cookies, list) or not all(
        isinstance(c, dict) and "name" in c and "value" in c for c in cookies
    ):
        return None
    return cookies
