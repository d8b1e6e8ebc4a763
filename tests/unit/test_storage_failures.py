"""Database failures become StorageUnavailableError with the driver's first line only."""

from __future__ import annotations

import sqlite3

import pytest
from sqlalchemy.exc import IntegrityError, OperationalError

from pims_sync.adapters.sql.failures import driver_message, storage_failures
from pims_sync.errors import StorageUnavailableError

STATEMENT = "INSERT INTO patients (name, owner_phone) VALUES (?, ?)"
PARAMS = ("REX MUÑOZ", "408-555-0142")


def full_disk() -> OperationalError:
    return OperationalError(STATEMENT, PARAMS, sqlite3.OperationalError("database or disk is full"))


async def test_operational_errors_become_storage_unavailable_without_sql_or_data() -> None:
    with pytest.raises(StorageUnavailableError) as raised:
        async with storage_failures("write cases"):
            raise full_disk()
    assert str(raised.value) == "the database could not write cases: database or disk is full"
    assert raised.value.code == "storage_unavailable"
    assert "REX" not in str(raised.value)
    assert "INSERT" not in str(raised.value)


async def test_other_database_errors_stay_what_they_are() -> None:
    error = IntegrityError(STATEMENT, PARAMS, sqlite3.IntegrityError("UNIQUE constraint failed"))
    with pytest.raises(IntegrityError):
        async with storage_failures("write cases"):
            raise error


def test_only_the_first_line_of_the_driver_message_is_kept() -> None:
    cause = sqlite3.OperationalError("could not extend file\nDETAIL: relation 1234 for REX")
    assert driver_message(OperationalError(STATEMENT, PARAMS, cause)) == "could not extend file"
