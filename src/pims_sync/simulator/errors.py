"""The simulator's errors (it imports nothing of the service, `pims_sync.errors` included)."""

from __future__ import annotations


class UnknownClinicError(LookupError):
    """No clinic has this company id."""


class ControlError(Exception):
    """A refused control call: becomes a JSON error with this status."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status
