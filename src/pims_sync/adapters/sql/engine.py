"""Database URLs and engines: the service picks its drivers itself."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

ASYNC_DRIVERS = {"sqlite": "sqlite+aiosqlite", "postgresql": "postgresql+psycopg"}
SYNC_DRIVERS = {"sqlite": "sqlite+pysqlite", "postgresql": "postgresql+psycopg"}


def _backend(url: str) -> str:
    scheme = make_url(url).get_backend_name()
    return "postgresql" if scheme in ("postgres", "postgresql") else scheme


def driver_url(url: str, *, asynchronous: bool) -> str:
    """Rewrite `sqlite:///…` or `postgresql://…` (as Supabase gives it) to our drivers."""
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")
    drivers = ASYNC_DRIVERS if asynchronous else SYNC_DRIVERS
    parsed = make_url(url)
    return parsed.set(drivername=drivers[_backend(url)]).render_as_string(hide_password=False)


# SQLite gives a database's -wal, -shm and -journal files its own permissions.
SQLITE_COMPANIONS = ("", "-wal", "-shm", "-journal")
PRIVATE_FILE = 0o600


def sqlite_path(url: str) -> Path | None:
    """The file of a `sqlite:///path` URL (None: in memory, or not SQLite)."""
    parsed = make_url(url)
    database = parsed.database
    if _backend(url) != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:") or parsed.query.get("mode") == "memory":
        return None
    return Path(database)


def make_sqlite_private(url: str) -> None:
    """Create the SQLite file readable by its owner only (0600), and tighten existing files.

    It holds encrypted credentials, cached session cookies and clinic data: other users of
    the machine have no business reading it, its -wal or its -shm.
    """
    path = sqlite_path(url)
    if path is None or not path.parent.is_dir():
        return  # SQLite itself says what is wrong with the path
    os.close(os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE))
    for suffix in SQLITE_COMPANIONS:
        companion = path.with_name(path.name + suffix)
        if companion.exists() and companion.stat().st_mode & 0o777 != PRIVATE_FILE:
            companion.chmod(PRIVATE_FILE)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Foreign keys are off by default on SQLite; WAL lets readers work during a sync.
    # With WAL, synchronous=NORMAL syncs at checkpoints instead of at every commit (a
    # commit costs 0.04 ms instead of 2-6 ms here): a killed process loses nothing and
    # the file stays consistent; only a power cut may undo the last commits.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


DEFAULT_POOL_SIZE = 10  # DATABASE_POOL_SIZE
POOL_TIMEOUT_SECONDS = 30.0  # a caller waits this long for a free connection, then fails


def pool_options(url: str, pool_size: int) -> dict[str, Any]:
    """A fixed-size pool: `pool_size` connections at most, never an overflow beyond it.

    However many clinics and concurrent runs a process serves, it holds at most this many
    connections (plus procrastinate's own pool on Postgres: docs/deploy.md). An in-memory
    SQLite database has a single shared connection and takes no pool options.
    """
    if _backend(url) == "sqlite" and sqlite_path(url) is None:
        return {}
    return {"pool_size": pool_size, "max_overflow": 0, "pool_timeout": POOL_TIMEOUT_SECONDS}


def create_async_db_engine(url: str, *, pool_size: int = DEFAULT_POOL_SIZE) -> AsyncEngine:
    """The engine the service uses at run time, its pool bounded by `pool_size`."""
    is_sqlite = _backend(url) == "sqlite"
    # hide_parameters: a database error's text would list the statement's values (a batch
    # of cases: names, phones, notes), and unexpected errors are logged with their text.
    engine = create_async_engine(
        driver_url(url, asynchronous=True),
        pool_pre_ping=not is_sqlite,
        hide_parameters=True,
        **pool_options(url, pool_size),
    )
    if is_sqlite:
        make_sqlite_private(url)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
    return engine


def create_sync_db_engine(url: str) -> Engine:
    """A blocking engine, for migrations and schema checks."""
    engine = create_engine(driver_url(url, asynchronous=False), hide_parameters=True)  # as above
    if _backend(url) == "sqlite":
        make_sqlite_private(url)
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine
