"""The schedule mirror: the clinic's calendar as inbound reads it, and how a fetch updates it.

One entry per calendar event (appointment, block or roster), keyed by the PIMS id and its
kind. A fetch writes what is new or changed, restores what came back and marks removed
(`deleted_at`) what left the window it covered, under the same safety rules as cases
(docs/availability.md#the-schedule-mirror): nothing is marked when the PIMS failed (no
page at all), when it listed nothing over a window that had live entries, when more than
half of the window's live entries (and more than five) would go, or for events it listed
but could not read. A cancelled appointment still in the feed is kept, marked removed.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from pims_sync.domain.appointments import Appointment, CalendarPage, StaffEvent, overlaps
from pims_sync.domain.cases import normalise_words
from pims_sync.domain.instants import utc

# The same thresholds as reconciliation's guard over cases (sync/reconciliation.py).
GUARD_SHARE = 0.5
GUARD_MIN_REMOVALS = 5
CANCELLED_WORDS = frozenset({"cancelled", "canceled"})


class EntryKind(StrEnum):
    """What a calendar event is."""

    APPOINTMENT = "appointment"
    BLOCK = "block"
    ROSTER = "roster"


EntryKey = tuple[str, EntryKind]


@dataclass(frozen=True, slots=True)
class MirrorEntry:
    """One calendar event as the mirror keeps it (instants in UTC)."""

    external_id: str
    kind: EntryKind
    starts_at: datetime
    ends_at: datetime
    resource_id: str | None = None
    room_name: str | None = None
    provider_name: str | None = None
    appointment_type: str | None = None
    status: str | None = None
    patient_name: str | None = None
    client_name: str | None = None

    @property
    def key(self) -> EntryKey:
        """The event's id and kind: unique in a clinic."""
        return self.external_id, self.kind

    @property
    def cancelled(self) -> bool:
        """Whether the PIMS lists it as cancelled (then it holds no time)."""
        return self.status is not None and normalise_words(self.status) in CANCELLED_WORDS

    @property
    def sync_hash(self) -> str:
        """A digest of everything the mirror stores of the event: changed hash, changed row."""
        fields = [
            self.external_id,
            self.kind.value,
            utc(self.starts_at).isoformat(),
            utc(self.ends_at).isoformat(),
            self.resource_id,
            self.room_name,
            self.provider_name,
            self.appointment_type,
            self.status,
            self.patient_name,
            self.client_name,
        ]
        text = json.dumps(fields, ensure_ascii=False)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()[:32]


def appointment_entry(appointment: Appointment) -> MirrorEntry:
    """The mirror's entry of an appointment."""
    return MirrorEntry(
        external_id=appointment.appointment_id,
        kind=EntryKind.APPOINTMENT,
        starts_at=utc(appointment.start),
        ends_at=utc(appointment.end),
        resource_id=appointment.room_id,
        room_name=appointment.room_name,
        provider_name=appointment.provider_name,
        appointment_type=appointment.type_description,
        status=appointment.status,
        patient_name=appointment.patient.name,
        client_name=appointment.client.full_name,
    )


def staff_entry(event: StaffEvent) -> MirrorEntry:
    """The mirror's entry of a block or roster."""
    return MirrorEntry(
        external_id=event.event_id,
        kind=EntryKind(event.kind.value),
        starts_at=utc(event.start),
        ends_at=utc(event.end),
        resource_id=event.resource_id,
        room_name=event.room_name,
        provider_name=event.provider_name,
    )


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as stored: its content, its digest, and when it was marked removed."""

    entry: MirrorEntry
    sync_hash: str
    deleted_at: datetime | None = None

    @property
    def live(self) -> bool:
        """Not marked removed."""
        return self.deleted_at is None


@dataclass(frozen=True, slots=True)
class MirrorListing:
    """What one fetch listed for its window [start, end), readable or not."""

    start: datetime
    end: datetime
    entries: Mapping[EntryKey, MirrorEntry]
    unreadable_ids: frozenset[str] = frozenset()  # appointment ids listed but unreadable
    unidentified: int = 0  # unreadable appointment events without a readable id
    staff_unreadable: int = 0

    @classmethod
    def of(cls, page: CalendarPage, start: datetime, end: datetime) -> MirrorListing:
        """The listing of a fetched page over [start, end)."""
        entries = [appointment_entry(a) for a in page.appointments]
        entries += [staff_entry(e) for e in page.staff]
        return cls(
            start=start,
            end=end,
            entries={entry.key: entry for entry in entries},
            unreadable_ids=frozenset(r.appointment_id for r in page.rejected if r.appointment_id),
            unidentified=sum(1 for r in page.rejected if r.appointment_id is None),
            staff_unreadable=page.staff_unreadable,
        )

    @property
    def empty(self) -> bool:
        """The PIMS listed nothing at all, readable or not."""
        return not (self.entries or self.unreadable_ids or self.unidentified) and (
            not self.staff_unreadable
        )

    def ordered_keys(self) -> list[EntryKey]:
        """The listed keys, in a stable order."""
        return sorted(self.entries, key=lambda key: (key[1].value, key[0]))

    def vouches_for(self, stored: StoredEntry) -> bool:
        """Whether the PIMS listed this stored event, even if it could not read it."""
        entry = stored.entry
        if entry.kind is EntryKind.APPOINTMENT and entry.external_id in self.unreadable_ids:
            return True
        return entry.key in self.entries

    def may_hide(self, stored: StoredEntry) -> bool:
        """Whether an unreadable event without an id may be this one."""
        if stored.entry.kind is EntryKind.APPOINTMENT:
            return self.unidentified > 0
        return self.staff_unreadable > 0


@dataclass(frozen=True, slots=True)
class EntryWrite:
    """One row to upsert: the entry and its removal mark (None: live)."""

    entry: MirrorEntry
    deleted_at: datetime | None


@dataclass(frozen=True, slots=True)
class MirrorPlan:
    """What one fetch writes to the mirror, and what it counted."""

    writes: tuple[EntryWrite, ...] = ()
    removals: tuple[EntryKey, ...] = ()
    created: int = 0
    updated: int = 0
    restored: int = 0
    cancelled: int = 0
    unchanged: int = 0
    held: int = 0
    held_reason: str | None = None

    def summary(self) -> str:
        """One line for the run's log (counts only)."""
        line = (
            f"Schedule mirror: {self.created} new, {self.updated} changed, "
            f"{self.restored} restored, {self.cancelled} cancelled, "
            f"{len(self.removals)} removed, {self.unchanged} unchanged"
        )
        return line + (f"; {self.held} removal(s) held: {self.held_reason}" if self.held else "")


@dataclass
class _Tally:
    writes: list[EntryWrite] = field(default_factory=list)
    counts: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(("created", "updated", "restored", "cancelled"), 0)
    )
    unchanged: int = 0


def _listed(tally: _Tally, entry: MirrorEntry, stored: StoredEntry | None, now: datetime) -> None:
    """Write a listed entry if it is new, changed, cancelled or back."""
    kept_mark = stored.deleted_at if stored is not None else None
    mark = (kept_mark or now) if entry.cancelled else None
    if stored is not None and stored.sync_hash == entry.sync_hash and stored.live == (mark is None):
        tally.unchanged += 1
        return
    if stored is None:
        change = "created"
    elif mark is not None and stored.live:
        change = "cancelled"
    elif mark is None and not stored.live:
        change = "restored"
    else:
        change = "updated"
    tally.counts[change] += 1
    tally.writes.append(EntryWrite(entry, mark))


def _refusal(listing: MirrorListing, removals: int, live: int) -> str | None:
    """Why removals must wait (None: they may go), as for cases."""
    if not removals:
        return None
    if listing.empty:
        return f"the PIMS listed nothing for a window with {live} live entries"
    if removals > GUARD_SHARE * live and removals > GUARD_MIN_REMOVALS:
        return f"{removals} of {live} live entries would be marked removed at once"
    return None


def plan_mirror(
    stored: Iterable[StoredEntry], listing: MirrorListing, *, now: datetime, force: bool = False
) -> MirrorPlan:
    """What to write for one fetch, given the stored entries over its window and its keys.

    `force` (a forced reconciliation) lifts the guard on many removals at once; events
    listed but unreadable are never marked, whatever `force` says.
    """
    by_key = {row.entry.key: row for row in stored}
    tally = _Tally()
    for key in listing.ordered_keys():
        _listed(tally, listing.entries[key], by_key.get(key), now)
    in_window = [
        row
        for row in by_key.values()
        if overlaps(row.entry.starts_at, row.entry.ends_at, listing.start, listing.end)
    ]
    gone = [row for row in in_window if row.live and not listing.vouches_for(row)]
    hidden = [row for row in gone if listing.may_hide(row)]
    removable = [row for row in gone if not listing.may_hide(row)]
    live = sum(1 for row in in_window if row.live)
    guard = None if force else _refusal(listing, len(removable), live)
    reasons = [guard] if guard else []
    if hidden:
        reasons.append("unreadable calendar events without an id may be them")
    return MirrorPlan(
        writes=tuple(tally.writes),
        removals=() if guard else tuple(row.entry.key for row in removable),
        unchanged=tally.unchanged,
        held=len(hidden) + (len(removable) if guard else 0),
        held_reason="; ".join(reasons) or None,
        **tally.counts,
    )
