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


class DecryptionError(FatalError):
    """The data could not be decrypted with the configured key."""

    code = "decryption_failed"
