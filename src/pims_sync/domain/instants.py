"""Instants: every datetime of the service is aware; kept in UTC, written as ISO 8601 `…Z`."""

from __future__ import annotations

from datetime import UTC, datetime

NAIVE = "naive datetime: every instant must be timezone-aware"


def utc(instant: datetime) -> datetime:
    """The same instant in UTC; ValueError for a naive datetime (always a bug here)."""
    if instant.tzinfo is None:
        raise ValueError(NAIVE)
    # Most instants are UTC already (the database's): no conversion to pay for then.
    return instant if instant.tzinfo is UTC else instant.astimezone(UTC)


def assume_utc(moment: datetime) -> datetime:
    """The instant in UTC, a naive datetime read as UTC (a user's input, an HTTP date, SQLite)."""
    return utc(moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC))


def iso(instant: datetime) -> str:
    """An instant as ISO 8601 UTC with milliseconds (`…Z`), as the original wrote them."""
    return utc(instant).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def iso_or_none(instant: datetime | None) -> str | None:
    """`iso(instant)`, or None for no instant (a run not finished yet, a fire not run)."""
    return None if instant is None else iso(instant)
