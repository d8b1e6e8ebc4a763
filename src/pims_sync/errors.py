"""Every error class of pims-sync: one root, split by what the caller should do.

`PimsSyncError` and its families (stop, retry, skip, not found, invalid input, config)
carry context (clinic, phase) but no HTTP status: `api/errors.py` maps them. At the end,
the few errors that never reach an API answer: a value one parser refuses (caught by the
next line up) and the errors of the service's own clients (the console, the demo).
"""

from __future__ import annotations

from collections.abc import Sequence


class PimsSyncError(Exception):
    """Something went wrong in pims-sync."""

    code = "internal_error"

    def __init__(self, message: str | None = None, **context: object) -> None:
        super().__init__(message or (self.__doc__ or "").strip())
        self.context = context

    @property
    def message(self) -> str:
        """The human-readable message."""
        return str(self)


class ConfigError(PimsSyncError):
    """The configuration is invalid."""

    code = "config_error"


class FatalError(PimsSyncError):
    """Retrying will not help; the run must stop."""

    code = "fatal_error"


class RetriableError(PimsSyncError):
    """A transient failure; the same call may succeed later."""

    code = "retriable_error"


class SkippableError(PimsSyncError):
    """This item cannot be processed; the run goes on without it."""

    code = "skippable_error"


class NotFoundError(PimsSyncError):
    """The requested thing does not exist."""

    code = "not_found"


class InvalidInputError(PimsSyncError):
    """The input is not acceptable."""

    code = "invalid_input"


class ClinicInactiveError(PimsSyncError):
    """The clinic is deactivated (`is_active = false`): no runs, and its keys act on nothing."""

    code = "clinic_inactive"


class StorageUnavailableError(PimsSyncError):
    """The database could not take a read or write (disk full, connection lost)."""

    code = "storage_unavailable"


class DecryptionError(FatalError):
    """The data could not be decrypted with the configured key."""

    code = "decryption_failed"


# --- The PIMS (IDEXX Neo) error family: the pipeline decides by class, never by text. ---


class PimsError(PimsSyncError):
    """The PIMS could not give us what we asked for."""

    code = "pims_error"


class PimsAuthError(PimsError, FatalError):
    """The PIMS refused the clinic's credentials."""

    code = "pims_auth_failed"

    def __init__(self, pims_message: str | None = None, **context: object) -> None:
        detail = pims_message or "no message shown"
        super().__init__(f"PIMS login failed: {detail}", **context)
        self.pims_message = pims_message


class PimsLoginPageChangedError(PimsError, FatalError):
    """The PIMS login page is not the one we know; the login flow needs updating."""

    code = "pims_login_page_changed"


class PimsTwoFactorRequiredError(PimsError, FatalError):
    """The PIMS asks for a second factor; use an account without 2FA."""

    code = "pims_two_factor_required"


class PimsBrowserUnavailableError(PimsError, FatalError):
    """The login browser (Chromium) could not start, or died during the login."""

    code = "pims_browser_unavailable"


class PimsSessionExpiredError(PimsError, RetriableError):
    """The PIMS session is no longer valid; log in again once and repeat the call.

    `endpoint` is the call refused and `symptom` how the PIMS showed it (`HTTP 401`,
    `redirected to the login page`, `HTML where JSON was expected`), for whoever words
    the error again (a session refused right after a fresh login is a different error).
    """

    code = "pims_session_expired"

    def __init__(
        self,
        message: str | None = None,
        *,
        endpoint: str = "",
        symptom: str = "",
        **context: object,
    ) -> None:
        super().__init__(message, endpoint=endpoint, **context)
        self.endpoint = endpoint
        self.symptom = symptom


class PimsUnavailableError(PimsError, RetriableError):
    """The PIMS failed transiently (network, timeout, 5xx, 429)."""

    code = "pims_unavailable"

    def __init__(
        self,
        message: str | None = None,
        *,
        endpoint: str = "",
        status: int | None = None,
        retry_after: float | None = None,
        **context: object,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status, **context)
        self.endpoint = endpoint
        self.status = status
        self.retry_after = retry_after


class PimsRetriesExhaustedError(PimsError, FatalError):
    """The PIMS kept failing after every retry; this run cannot go on."""

    code = "pims_unavailable"


class PimsRequestRejectedError(PimsError, FatalError):
    """The PIMS rejected the request (a 4xx that retrying cannot fix)."""

    code = "pims_request_rejected"


class PimsPayloadError(PimsError, FatalError):
    """The PIMS answered with a payload that is malformed or implausible."""

    code = "pims_payload_invalid"


class PimsNotFoundError(PimsError, SkippableError):
    """The PIMS has no such item (e.g. a consultation not created yet)."""

    code = "pims_not_found"


class PimsNotReadyError(PimsNotFoundError):
    """The PIMS refused an item for now (a consultation not finished): skip, try next run."""

    code = "pims_not_ready"


class BrowserCrashedError(PimsUnavailableError):
    """Chromium died during a login: retried once (the pool relaunches it), then typed."""

    def __init__(self, cause: str = "the browser closed") -> None:
        super().__init__(f"Chromium stopped during the IDEXX Neo login ({cause})", endpoint="login")
        self.cause = cause


class PimsRefusedError(PimsUnavailableError):
    """The PIMS answered 200 with `{"success": false}`: an error, retried, never data."""

    code = "pims_refused"


# --- Writes to the PIMS (booking write-back): never retried by the adapter. The class says
# what is known of the write's fate: refused and not sent mean nothing happened; unknown
# means it may have happened, and only a read-back can tell (docs/provider.md#writes). ---


class PimsWriteError(PimsError):
    """A write to the PIMS failed; the subclass says whether it may have been applied."""

    code = "pims_write_failed"

    def __init__(self, message: str | None = None, *, endpoint: str = "", **context: object):
        super().__init__(message, endpoint=endpoint, **context)
        self.endpoint = endpoint


class PimsWriteRefusedError(PimsWriteError):
    """The PIMS refused the write (validation, a 4xx, `success: false`); nothing changed.

    `said` is the PIMS's own words (at most 120 characters), for the caller's message.
    """

    code = "pims_write_refused"

    def __init__(
        self,
        message: str | None = None,
        *,
        endpoint: str = "",
        said: str = "",
        status: int | None = None,
        **context: object,
    ) -> None:
        super().__init__(message, endpoint=endpoint, status=status, **context)
        self.said = said
        self.status = status


class PimsSlotTakenError(PimsWriteRefusedError):
    """The PIMS refused a booking that overlaps another appointment or block of the column."""

    code = "pims_slot_taken"


class PimsWriteNotSentError(PimsWriteError):
    """The write never reached the PIMS (no connection, 429, the session had expired).

    Nothing changed: sending it again is safe. `session_refused`: the PIMS refused the
    session (401, 403, 419, a redirect to the login page); `csrf_refused`: it named the
    CSRF token. The adapter has renewed what was refused before this reaches a caller.
    """

    code = "pims_write_not_sent"

    def __init__(
        self,
        message: str | None = None,
        *,
        endpoint: str = "",
        session_refused: bool = False,
        csrf_refused: bool = False,
        **context: object,
    ) -> None:
        super().__init__(message, endpoint=endpoint, **context)
        self.session_refused = session_refused
        self.csrf_refused = csrf_refused


class PimsWriteOutcomeUnknownError(PimsWriteError):
    """The write may have reached the PIMS but no answer came (timeout, dropped, 5xx).

    Never send it again blindly: read back first (the write may have been applied).
    """

    code = "pims_write_outcome_unknown"


class RunInProgressError(PimsSyncError):
    """A run for this clinic is already in progress."""

    code = "sync_in_progress"

    def __init__(self, message: str | None = None, *, run_id: object = None) -> None:
        super().__init__(message, run_id=run_id)
        self.run_id = run_id


class SyncTimeoutError(FatalError):
    """The sync run did not finish within SYNC_TIMEOUT_MS."""

    code = "sync_timeout"


class ReconciliationGuardError(FatalError):
    """Reconciliation refused: it would delete too much; repeat with force to proceed."""

    code = "reconciliation_guard"


class PimsBudgetExhaustedError(FatalError):
    """The clinic has sent its PIMS requests of the day (PIMS_DAILY_REQUEST_BUDGET)."""

    code = "pims_budget_exhausted"


class WebhookNotFoundError(NotFoundError):
    """No webhook endpoint with this id for this clinic."""

    code = "webhook_not_found"


class HoldNotFoundError(NotFoundError):
    """No hold with this id for this clinic."""

    code = "hold_not_found"


class SlotUnavailableError(PimsSyncError):
    """The slot asked for cannot be held; `alternatives` are the next free slots."""

    code = "slot_unavailable"

    def __init__(self, message: str | None = None, *, alternatives: Sequence[object] = ()) -> None:
        super().__init__(message)
        # The domain's free slots (`FreeSlot`); typed loosely: this module imports nothing.
        self.alternatives = tuple(alternatives)


class WebhookUrlRefusedError(InvalidInputError):
    """A webhook URL the service will not deliver to (form, scheme or where it leads)."""

    code = "webhook_url_refused"


class PimsLoginBudgetExhaustedError(FatalError):
    """The clinic has made its fresh PIMS logins of the day (its daily login budget)."""

    code = "pims_login_budget_exhausted"


class ClinicPausedError(PimsSyncError):
    """The clinic is paused (its password was refused, or runs kept failing): no runs."""

    code = "clinic_paused"


class JobRefusedError(PimsSyncError):
    """The queue refused the job (the same run is already queued, or it is shutting down)."""

    code = "job_refused"


class ServiceStoppingError(PimsSyncError):
    """The service is shutting down and takes no new runs; try again shortly."""

    code = "service_unavailable"


class UnsafeMigrationError(FatalError):
    """The migration would have to change or delete existing data; it stopped instead."""

    code = "unsafe_migration"


class DatabaseExtensionError(FatalError):
    """A Postgres extension the schema needs is missing and could not be created."""

    code = "database_extension_missing"


# --- Booking writes: exactly once, confirmed by reading back (docs/booking.md). ---


class IdempotencyKeyRequiredError(InvalidInputError):
    """This write needs an Idempotency-Key header (create and reschedule)."""

    code = "idempotency_key_required"


class IdempotencyKeyInvalidError(InvalidInputError):
    """The Idempotency-Key header is not a usable key."""

    code = "idempotency_key_invalid"


class IdempotencyKeyReusedError(PimsSyncError):
    """The Idempotency-Key was first used with another body: a new write needs a new key."""

    code = "idempotency_key_reused"


class WriteInProgressError(PimsSyncError):
    """A request with this Idempotency-Key is still being worked on; repeat it later."""

    code = "write_in_progress"


class AppointmentNotFoundError(NotFoundError):
    """IDEXX has no appointment with this id (for this clinic)."""

    code = "appointment_not_found"


class PimsWriteUnconfirmedError(PimsError):
    """A write was sent, but no read-back could tell whether the PIMS applied it.

    Repeating the request with the same Idempotency-Key reads back again before anything
    else; it never sends a second write while this is unknown.
    """

    code = "pims_write_unconfirmed"


# --- Refusals at the API's edge: who asks, and what they may reach (docs/security.md). ---


class AuthenticationError(PimsSyncError):
    """The request's credential (API key, metrics token) is missing or refused."""

    code = "unauthorized"


class MissingApiKeyError(AuthenticationError):
    """The request has no X-API-Key header."""

    code = "missing_api_key"


class InvalidApiKeyError(AuthenticationError):
    """No stored key is the one presented."""

    code = "invalid_api_key"


class ApiKeyDisabledError(AuthenticationError):
    """The key was revoked."""

    code = "api_key_disabled"


class ApiKeyExpiredError(AuthenticationError):
    """The key is past its expiry."""

    code = "api_key_expired"


class MetricsTokenError(AuthenticationError):
    """`/metrics` was asked with a bearer token that is not METRICS_TOKEN."""

    code = "invalid_metrics_token"


class MissingMetricsTokenError(MetricsTokenError):
    """`/metrics` was asked without the bearer token METRICS_TOKEN requires."""

    code = "missing_metrics_token"


class PermissionDeniedError(PimsSyncError):
    """The key lacks a permission the route needs."""

    code = "permission_denied"


class ClinicForbiddenError(PermissionDeniedError):
    """A clinic's key named another clinic."""

    code = "clinic_forbidden"


class ClinicIdRequiredError(InvalidInputError):
    """A service key (bound to no clinic) must name the clinic of each request."""

    code = "clinic_id_required"


class ClinicNotFoundError(NotFoundError):
    """No clinic has this id."""

    code = "clinic_not_found"


class SyncNotFoundError(NotFoundError):
    """No run of this clinic has this id."""

    code = "sync_not_found"


class TooManyStreamsError(PimsSyncError):
    """The key holds SSE_MAX_STREAMS_PER_KEY event streams open already; close one first."""

    code = "too_many_streams"


# --- Errors that never reach an API answer. ---


class OptionError(ValueError):
    """A run option's value was refused: `option` names it, `rule` says what it must be.

    Each entry point words it its own way (a 400, a CLI line, a form message).
    """

    def __init__(self, option: str, rule: str) -> None:
        super().__init__(f"{option} {rule}")
        self.option = option
        self.rule = rule


class ScheduleError(ValueError):
    """An entry of `sync_schedules` is not valid."""


class UnreadableEventError(ValueError):
    """One calendar event cannot be read; the message is the reason (no personal data)."""


class ServiceError(Exception):
    """The console's call: the service answered with an error (its envelope), or not at all."""

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code


class ServiceUnreachableError(ServiceError):
    """No answer from the service's address."""


class KeyRejectedError(ServiceError):
    """The service refused the API key (401)."""


class FormError(ValueError):
    """A console form field's value was refused; `field` names it, the message says why."""

    def __init__(self, field_name: str, message: str) -> None:
        super().__init__(message)
        self.field = field_name
        self.message = message


class DemoError(Exception):
    """The demo could not go on; the message says why and what to try."""
