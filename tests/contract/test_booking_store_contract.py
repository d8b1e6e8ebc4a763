"""One contract for the booking rules store: in memory, on SQLite and on Postgres."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from pims_sync.adapters.memory.mirror import MemoryBookingConfigStore
from pims_sync.adapters.sql.booking import SqlBookingConfigStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.domain.booking import DEFAULT_RULES, parse_rules
from pims_sync.ports.booking import BookingConfigStore
from tests.contract.store_backends import MEMORY, database_url

__all__ = ["database_url"]

T0 = datetime(2026, 6, 1, 12, tzinfo=UTC)
RULES = parse_rules(
    {
        "openingHours": {"monday": ["08:00-12:00", "13:00-17:30"], "sunday": ["10:00-24:00"]},
        "exceptions": {"2026-12-25": []},
        "slotMinutes": 20,
        "visitMinutes": {"Surgery": 120, "Zahnreinigung Ü": 45},
        "bookableResourceIds": ["7", "EXAM"],
        "bufferBeforeMinutes": 5,
        "bufferAfterMinutes": 10,
        "minNoticeMinutes": 0,
        "maxDaysAhead": 30,
        "rostersDefineWorking": True,
    }
)


@pytest.fixture
async def stores(
    database_url: str, request: pytest.FixtureRequest
) -> AsyncIterator[tuple[BookingConfigStore, UUID, UUID]]:
    """A store of each kind and two clinics."""
    if database_url == MEMORY:
        yield MemoryBookingConfigStore(), UUID(int=1), UUID(int=2)
        return
    engine = create_async_db_engine(str(request.getfixturevalue("migrated_database_url")))
    clinics = SqlClinicStore(engine)
    alpha, bravo = (await clinics.add(name="Alpha")).id, (await clinics.add(name="Bravo")).id
    try:
        yield SqlBookingConfigStore(engine), alpha, bravo
    finally:
        await engine.dispose()


async def test_defaults_until_set_then_exactly_what_was_set(
    stores: tuple[BookingConfigStore, UUID, UUID],
) -> None:
    store, alpha, bravo = stores
    first = await store.get(alpha)
    assert (first.rules, first.is_default, first.updated_at) == (DEFAULT_RULES, True, None)

    await store.put(alpha, RULES, at=T0)

    stored = await store.get(alpha)
    assert (stored.rules, stored.is_default, stored.updated_at) == (RULES, False, T0)
    assert (await store.get(bravo)).is_default  # the other clinic keeps the defaults


async def test_put_replaces_the_whole_rules(stores: tuple[BookingConfigStore, UUID, UUID]) -> None:
    store, alpha, _ = stores
    await store.put(alpha, RULES, at=T0)
    later = T0 + timedelta(minutes=5)
    await store.put(alpha, DEFAULT_RULES, at=later)
    stored = await store.get(alpha)
    assert (stored.rules, stored.is_default, stored.updated_at) == (DEFAULT_RULES, False, later)
