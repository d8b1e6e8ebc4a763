"""A database error logged by the service carries no row data (no personal data in logs).

An unexpected database error is logged with its traceback (`log.exception`). Its text
would list the statement's values (SQLAlchemy's `[parameters: …]`: a batch of cases with
names, phones and notes) and, on Postgres, the server's own quote of the failing row or
document (`DETAIL:`, `CONTEXT:`). The service's engines hide the parameters and its log
formatters drop those server fields; here both, on the service's real engines.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import AsyncIterator

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.engine import create_async_db_engine, create_sync_db_engine
from pims_sync.logs import ContextFilter, JsonFormatter, PlainFormatter

NAME = "JOSÉ MUÑOZ"
PHONE = "408-555-0142"


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    made = create_async_db_engine(database_url)
    try:
        yield made
    finally:
        await made.dispose()


def logged(error: BaseException) -> list[str]:
    """The error as the service would log it, in both formats."""
    try:
        raise RuntimeError("sync run failed unexpectedly") from error
    except RuntimeError:
        record = logging.getLogger("pims_sync.sync").makeRecord(
            "pims_sync.sync", logging.ERROR, __file__, 1, "failed: %s", (error,), sys.exc_info()
        )
    ContextFilter().filter(record)
    return [JsonFormatter().format(record), PlainFormatter().format(record)]


async def failure(engine: AsyncEngine, statement: str, **values: object) -> BaseException:
    """The error a statement raises on a scratch table (rolled back)."""
    async with engine.connect() as conn:
        await conn.execute(
            text("CREATE TEMPORARY TABLE people (id INT PRIMARY KEY, name TEXT, doc TEXT NOT NULL)")
        )
        await conn.execute(text("INSERT INTO people VALUES (1, 'x', '{}')"))
        try:
            await conn.execute(text(statement), values)
        except Exception as error:  # noqa: BLE001 - the error is what the test looks at
            return error
        finally:
            await conn.rollback()
    pytest.fail(f"no error from {statement}")


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO people VALUES (1, :name, :phone)",  # duplicate key
        "INSERT INTO people VALUES (2, :name, NULL)",  # not null: Postgres quotes the row
        "INSERT INTO people VALUES (3, :name, CAST(:phone AS INT))",  # Postgres quotes the value
    ],
)
async def test_a_database_error_is_logged_without_the_row(
    engine: AsyncEngine, database_url: str, statement: str
) -> None:
    if "CAST" in statement and database_url.startswith("sqlite"):
        pytest.skip("SQLite casts anything")
    error = await failure(engine, statement, name=NAME, phone=PHONE)
    assert "hide_parameters" in str(error)  # the engine's own text lists no values
    for line in logged(error):
        assert NAME not in line
        assert PHONE not in line
        assert "sync run failed" in line


async def test_a_document_postgres_cannot_store_is_not_quoted(
    engine: AsyncEngine, database_url: str
) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a Postgres message")
    document = '{"patient": {"name": "' + NAME + '\\u0000"}}'
    error = await failure(
        engine, "INSERT INTO people VALUES (4, 'x', CAST(:doc AS JSONB))", doc=document
    )
    assert "CONTEXT" in str(error.__cause__ or error)  # what the server said quotes the name
    for line in logged(error):
        assert "MUÑOZ" not in line
        assert "(hidden: it may quote row data)" in line


def test_the_blocking_engine_hides_parameters_too(sqlite_url: str) -> None:
    engine = create_sync_db_engine(sqlite_url)
    try:
        with engine.connect() as conn:
            conn.execute(text("CREATE TABLE t (id INT PRIMARY KEY)"))
            with pytest.raises(Exception, match="hide_parameters") as raised:
                conn.execute(text("INSERT INTO t VALUES (:id), (:id)"), {"id": 1})
        assert NAME not in str(raised.value)
    finally:
        engine.dispose()
