"""The pipeline writes the schedule mirror from the calendar it fetches, and only from it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from uuid import UUID

import pytest

from pims_sync.domain.appointments import StaffEvent, StaffKind
from pims_sync.domain.mirror import EntryKind, MirrorEntry
from pims_sync.domain.runs import SyncType
from pims_sync.errors import PimsUnavailableError
from pims_sync.sync.service import SyncRequest
from tests.unit.sync.conftest import CLINIC_ID, LA, TODAY, World, appointment, make_world

FAR = datetime(2000, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC)
SHIFT = StaffEvent(
    "r1",
    StaffKind.ROSTER,
    datetime(2026, 3, 10, 8, tzinfo=LA),
    datetime(2026, 3, 10, 18, tzinfo=LA),
    resource_id="9",
)
LUNCH = StaffEvent(
    "b1",
    StaffKind.BLOCK,
    datetime(2026, 3, 10, 12, tzinfo=LA),
    datetime(2026, 3, 10, 13, tzinfo=LA),
    resource_id="7",
    provider_name="Dr Who",
)


async def mirrored(world: World) -> dict[tuple[str, EntryKind], MirrorEntry]:
    entries = await world.mirror.entries_between(clinic_id=CLINIC_ID, start=FAR[0], end=FAR[1])
    return {entry.key: entry for entry in entries}


async def messages(world: World, run_id: UUID) -> list[str]:
    """The operator messages a finished run published."""
    stream = world.service.events.subscribe(run_id)
    assert stream is not None
    return [str(event.data.get("message")) async for event in stream if event.type == "log"]


@pytest.fixture
def staffed() -> World:
    world = make_world(
        appointment("1", hour=9),
        appointment("2", day=TODAY + timedelta(days=1), hour=10),
        appointment("3", day=TODAY + timedelta(days=2), hour=11, status="Cancelled"),
    )
    world.provider.staff = {SHIFT.key: SHIFT, LUNCH.key: LUNCH}
    return world


async def test_inbound_mirrors_appointments_blocks_and_rosters_without_another_request(
    staffed: World,
) -> None:
    outcome = await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.INBOUND, days_ahead=3))

    assert staffed.provider.calls["calendar"] == 1  # the cases' fetch, nothing more
    live = await mirrored(staffed)
    assert set(live) == {
        ("1", EntryKind.APPOINTMENT),
        ("2", EntryKind.APPOINTMENT),
        ("r1", EntryKind.ROSTER),
        ("b1", EntryKind.BLOCK),
    }  # the cancelled one is mirrored, marked: not live
    first = live["1", EntryKind.APPOINTMENT]
    assert (first.resource_id, first.patient_name, first.client_name) == ("9", "Rex 1", "Ann Lee")
    assert first.starts_at == datetime(2026, 3, 9, 16, tzinfo=UTC)
    assert live["b1", EntryKind.BLOCK].provider_name == "Dr Who"
    days = await staffed.mirror.synced_days(
        clinic_id=CLINIC_ID, first=TODAY, last=TODAY + timedelta(days=3)
    )
    assert sorted(days) == [TODAY + timedelta(days=n) for n in range(4)]
    said = await messages(staffed, outcome.run_id)
    assert (
        "Schedule mirror: 5 new, 0 changed, 0 restored, 0 cancelled, 0 removed, 0 unchanged" in said
    )


async def test_a_pims_failure_changes_nothing_in_the_mirror(staffed: World) -> None:
    await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.INBOUND, days_ahead=3))
    before = await mirrored(staffed)
    staffed.provider.appointments.clear()
    staffed.provider.staff.clear()
    staffed.provider.fail_next("calendar", PimsUnavailableError(status=503), times=5)

    with pytest.raises(PimsUnavailableError):
        await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.INBOUND, days_ahead=3))

    assert await mirrored(staffed) == before


async def test_an_empty_calendar_marks_nothing_and_says_why(staffed: World) -> None:
    await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.INBOUND, days_ahead=3))
    before = await mirrored(staffed)
    staffed.provider.appointments.clear()
    staffed.provider.staff.clear()

    outcome = await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.INBOUND, days_ahead=3))

    assert await mirrored(staffed) == before
    assert any(
        "removal(s) held: the PIMS listed nothing" in m
        for m in await messages(staffed, outcome.run_id)
    )


async def test_reconciliation_writes_the_calendar_it_fetched_and_a_dry_run_does_not(
    staffed: World,
) -> None:
    staffed.provider.appointments["4"] = appointment("4", hour=14)  # the guard keeps one
    await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.INBOUND, days_ahead=3))
    staffed.provider.appointments.pop("1")
    await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.RECONCILIATION, dry_run=True))
    assert ("1", EntryKind.APPOINTMENT) in await mirrored(staffed)

    await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.RECONCILIATION))

    assert ("1", EntryKind.APPOINTMENT) not in await mirrored(staffed)
    assert ("2", EntryKind.APPOINTMENT) in await mirrored(staffed)  # tomorrow: not its window


async def test_a_full_run_writes_its_calendar_once(staffed: World) -> None:
    outcome = await staffed.service.run(SyncRequest(CLINIC_ID, SyncType.FULL, days_ahead=3))
    assert staffed.provider.calls["calendar"] == 1
    said = [m for m in await messages(staffed, outcome.run_id) if m.startswith("Schedule mirror")]
    assert len(said) == 1  # reconciliation reused inbound's calendar, already written
