"""A booking write's day read back from IDEXX, and shown at once in the mirror and the cases.

Every booking write reads the calendar of its clinic day before and after (one request
each). That read is what availability and the cases need anyway, so it is written to the
schedule mirror (the day counts as read) and to the cases of the appointments the write
touched, by the same rules as inbound and reconciliation: the clinic sees the booking
without waiting for the next sync (docs/booking.md#what-a-write-updates).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime

from pims_sync.domain.appointments import CalendarPage
from pims_sync.domain.cases import external_id
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.mirror import MirrorListing
from pims_sync.ports.mirror import ScheduleMirror
from pims_sync.ports.provider import PimsSession
from pims_sync.ports.store import CaseStore, CaseWrite, StoredCase
from pims_sync.sync.inbound import check_plausible, plan_case
from pims_sync.sync.reconciliation import DELETE, RESTORE, UPDATE, Listing, apply_change, decide
from pims_sync.sync.windows import DateWindow


@dataclass(frozen=True, slots=True)
class DayRead:
    """One clinic day as IDEXX listed it, and when it was read."""

    day: date
    page: CalendarPage
    read_at: datetime


async def read_day(session: PimsSession, clinic: Clinic, day: date, now: datetime) -> DayRead:
    """The clinic day's calendar, fresh from IDEXX (checked like inbound's)."""
    window = DateWindow(day, day)
    page = await session.fetch_appointments(
        window.start_instant(clinic.zone), window.end_instant(clinic.zone)
    )
    check_plausible(page, window, clinic.zone)
    return DayRead(day, page, now)


@dataclass(frozen=True, slots=True)
class Reflection:
    """Where a read day is written: the mirror and the cases."""

    mirror: ScheduleMirror
    cases: CaseStore

    async def show(
        self, clinic: Clinic, read: DayRead, *, appointment_ids: Sequence[str], marker: str
    ) -> None:
        """Write the day to the mirror, and the touched appointments to their cases."""
        window = DateWindow(read.day, read.day)
        listing = MirrorListing.of(
            read.page, window.start_instant(clinic.zone), window.end_instant(clinic.zone)
        )
        await self.mirror.record(
            clinic_id=clinic.id, listing=listing, days=[read.day], now=read.read_at
        )
        if appointment_ids:
            await self._cases(clinic, read, appointment_ids, marker)

    async def _cases(
        self, clinic: Clinic, read: DayRead, appointment_ids: Sequence[str], marker: str
    ) -> None:
        listing = Listing.of(read.page)
        keys = [external_id(appointment_id) for appointment_id in appointment_ids]

        def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
            writes: list[CaseWrite] = []
            for key in keys:
                write = _case_write(stored.get(key), key, listing, clinic, read.read_at, marker)
                if write is not None:
                    writes.append(write)
            return writes

        await self.cases.apply(clinic_id=clinic.id, external_ids=keys, plan=plan)


def _case_write(
    case: StoredCase | None,
    key: str,
    listing: Listing,
    clinic: Clinic,
    now: datetime,
    marker: str,
) -> CaseWrite | None:
    """What inbound (a listed appointment) or reconciliation (a gone one) would write."""
    appointment = listing.present.get(key)
    if case is None:
        if appointment is None:
            return None
        return plan_case(None, appointment, zone=clinic.zone, now=now)[0]
    action = decide(case, listing)
    if action in (DELETE, RESTORE, UPDATE):
        return apply_change(action, case, appointment, zone=clinic.zone, now=now, sync_id=marker)
    if appointment is None:
        return None
    return plan_case(case, appointment, zone=clinic.zone, now=now)[0]
