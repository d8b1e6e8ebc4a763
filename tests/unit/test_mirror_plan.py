"""The mirror's pure part: entries of a page, their digest, and the guard's exact edges."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import (
    Appointment,
    CalendarPage,
    Client,
    Patient,
    RejectedEvent,
    StaffEvent,
    StaffKind,
)
from pims_sync.domain.mirror import (
    EntryKind,
    MirrorEntry,
    MirrorListing,
    StoredEntry,
    plan_mirror,
)

LA = ZoneInfo("America/Los_Angeles")
START = datetime(2026, 6, 10, 7, tzinfo=UTC)
END = START + timedelta(days=1)
NOW = datetime(2026, 6, 9, tzinfo=UTC)


def entry(number: int, **changes: object) -> MirrorEntry:
    at = START + timedelta(hours=9, minutes=15 * number)
    base = MirrorEntry(str(number), EntryKind.APPOINTMENT, at, at + timedelta(minutes=15), "7")
    return replace(base, **changes)  # type: ignore[arg-type]


def stored(*entries: MirrorEntry) -> list[StoredEntry]:
    return [StoredEntry(e, e.sync_hash) for e in entries]


def test_a_page_becomes_entries_in_utc_with_people_for_appointments_only() -> None:
    start = datetime(2026, 6, 10, 9, tzinfo=LA)
    visit = Appointment(
        appointment_id="351412",
        start=start,
        end=start + timedelta(minutes=30),
        status="Scheduled",
        patient=Patient(name="PENNY"),
        client=Client(first_name="MARIA", last_name="LOPEZ"),
        room_id="9",
        room_name="ROOM 1",
        provider_name="DR. A. PATEL",
        type_description="Exam",
    )
    block = StaffEvent("351700", StaffKind.BLOCK, start, start + timedelta(hours=3), "9")
    page = CalendarPage((visit,), (block,), (RejectedEvent(4, "351999", "bad"),))
    listing = MirrorListing.of(page, START, END)
    first = listing.entries["351412", EntryKind.APPOINTMENT]
    assert first.starts_at == datetime(2026, 6, 10, 16, tzinfo=UTC)
    assert first.starts_at.tzinfo is UTC
    assert (first.patient_name, first.client_name, first.appointment_type) == (
        "PENNY",
        "MARIA LOPEZ",
        "Exam",
    )
    staff = listing.entries["351700", EntryKind.BLOCK]
    assert (staff.resource_id, staff.patient_name, staff.status) == ("9", None, None)
    assert listing.unreadable_ids == frozenset({"351999"})


def test_the_digest_follows_every_stored_field() -> None:
    base = entry(1, status="Scheduled", patient_name="REX")
    assert base.sync_hash == entry(1, status="Scheduled", patient_name="REX").sync_hash
    for change in (
        {"status": "Arrived"},
        {"patient_name": "MAX"},
        {"resource_id": "8"},
        {"ends_at": base.ends_at + timedelta(minutes=5)},
        {"kind": EntryKind.BLOCK},
    ):
        assert replace(base, **change).sync_hash != base.sync_hash, change  # type: ignore[arg-type]


def test_cancelled_in_any_spelling_is_cancelled_and_no_show_is_not() -> None:
    cancelled = [entry(n, status=s) for n, s in enumerate(("Cancelled", "canceled", "CANCELLED"))]
    assert all(e.cancelled for e in cancelled)
    assert not any(entry(6, status=s).cancelled for s in ("No Show", "Scheduled", None))


def test_a_cancelled_appointment_is_written_marked_and_restored_when_it_is_back() -> None:
    live = entry(1, status="Scheduled")
    gone = replace(live, status="Cancelled")
    plan = plan_mirror(stored(live), MirrorListing(START, END, {gone.key: gone}), now=NOW)
    assert (plan.cancelled, plan.writes[0].deleted_at) == (1, NOW)
    marked = [StoredEntry(gone, gone.sync_hash, NOW)]
    back = plan_mirror(marked, MirrorListing(START, END, {live.key: live}), now=NOW)
    assert (back.restored, back.writes[0].deleted_at) == (1, None)


def test_the_guard_lets_half_go_and_five_go_but_not_more() -> None:
    ten = [entry(n) for n in range(10)]
    half = plan_mirror(
        stored(*ten), MirrorListing(START, END, {e.key: e for e in ten[5:]}), now=NOW
    )
    assert (len(half.removals), half.held) == (5, 0)  # 5 of 10: not more than half
    six = [entry(n) for n in range(6)]
    all_but_one = MirrorListing(START, END, {six[0].key: six[0]})
    five = plan_mirror(stored(*six), all_but_one, now=NOW)
    assert (len(five.removals), five.held) == (5, 0)  # more than half, but not more than five
    twelve = [entry(n) for n in range(12)]
    kept = MirrorListing(START, END, {e.key: e for e in twelve[:5]})
    refused = plan_mirror(stored(*twelve), kept, now=NOW)
    assert (refused.removals, refused.held) == ((), 7)
    assert refused.held_reason == "7 of 12 live entries would be marked removed at once"
