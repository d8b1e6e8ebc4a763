"""The SQLite database: its files readable by their owner only (issue 20, item 12), its pragmas."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.migrate import upgrade_database


@pytest.fixture
def usual_umask() -> Iterator[None]:
    """The common default (022), under which files come out world-readable."""
    previous = os.umask(0o022)
    yield
    os.umask(previous)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("usual_umask")
async def test_a_new_database_and_its_wal_and_shm_are_0600(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'pims-sync.db'}"
    upgrade_database(url)
    engine = create_async_db_engine(url)
    try:
        await SqlClinicStore(engine).add(name="Private Paws")
        async with engine.connect():  # the WAL files exist while a connection is open
            files = sorted(tmp_path.iterdir())
            names = {path.name for path in files}
            assert {"pims-sync.db", "pims-sync.db-wal", "pims-sync.db-shm"} <= names
            assert {path.name: _mode(path) for path in files} == dict.fromkeys(names, 0o600)
    finally:
        await engine.dispose()


@pytest.mark.usefixtures("usual_umask")
async def test_an_existing_readable_database_is_tightened(tmp_path: Path) -> None:
    database = tmp_path / "old.db"
    url = f"sqlite:///{database}"
    upgrade_database(url)
    database.chmod(0o644)
    engine = create_async_db_engine(url)
    await engine.dispose()
    assert _mode(database) == 0o600


async def test_every_connection_has_foreign_keys_wal_and_normal_sync(tmp_path: Path) -> None:
    """The pragmas each connection gets: checked keys, WAL, and a sync at checkpoints only."""
    engine = create_async_db_engine(f"sqlite:///{tmp_path / 'pims-sync.db'}")
    try:
        async with engine.connect() as connection:
            found = [
                (await connection.exec_driver_sql(f"PRAGMA {name}")).scalar_one()
                for name in ("foreign_keys", "journal_mode", "synchronous")
            ]
        assert found == [1, "wal", 1]  # synchronous 1 = NORMAL (2 = FULL, the default)
    finally:
        await engine.dispose()
