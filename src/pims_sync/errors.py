"""One root error, split by what the caller should do: stop, retry or skip.

Errors carry context (clinic, phase) but no HTTP status: `api/errors.py` maps them.
"""

from __future__ import annotations


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
    """The PIMS session is no longer valid; log in again once and repeat the call."""

    code = "pims_session_expired"


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


class PimsRefusedError(PimsUnavailableError):
    """The PIMS answered 200 with `{"success": false}`: an error, retried, never data."""

    code = "pims_refused"


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
