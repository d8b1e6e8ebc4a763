"""Database failures the sync can meet mid-run, as the domain's StorageUnavailableError."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy.exc import OperationalError

from pims_sync.errors import StorageUnavailableError


def driver_message(error: OperationalError) -> str:
    """The driver's first line (e.g. "database or disk is full"): no SQL, no parameters."""
    lines = str(error.orig).strip().splitlines() if error.orig is not None else []
    return lines[0] if lines else type(error).__name__


@asynccontextmanager
async def storage_failures(action: str) -> AsyncIterator[None]:
    """Turn an OperationalError (full disk, lost connection) into a clear domain error.

    Only OperationalError: its message is about the database's state, never the row's data
    (integrity and programming errors can quote values, and stay internal errors).
    """
    try:
        yield
    except OperationalError as error:
        raise StorageUnavailableError(
            f"the database could not {action}: {driver_message(error)}"
        ) from error
