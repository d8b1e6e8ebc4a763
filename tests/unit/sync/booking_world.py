"""A booking desk over the memory stores and the fake PIMS, for fast tests and properties."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.mirror import (
    MemoryBookingConfigStore,
    MemoryHoldStore,
    MemoryScheduleMirror,
)
from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.adapters.memory.stores import MemoryCaseStore
from pims_sync.adapters.memory.write_requests import MemoryWriteRequestStore
from pims_sync.domain.booking_orders import BookingOrder
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.pims_writes import PimsClient, PimsPatient
from pims_sync.sync.availability import AvailabilityDesk
from pims_sync.sync.booking_create import BookingTools
from pims_sync.sync.booking_desk import BookingDesk
from pims_sync.sync.booking_reflect import Reflection
from pims_sync.sync.booking_sessions import BookingSessions
from pims_sync.sync.exactly_once import WriteLedger

LA = ZoneInfo("America/Los_Angeles")
CLINIC = Clinic(id=UUID("22222222-2222-4222-8222-222222222222"), name="Paws", timezone=str(LA))
# Monday 8 June 2026, 08:00 in Los Angeles; the visits are booked on Tuesday.
NOW = datetime(2026, 6, 8, 8, 0, tzinfo=LA).astimezone(UTC)
TUESDAY = date(2026, 6, 9)
PATIENTS = ("48290", "48291", "48292")


class Clock:
    """A settable clock."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Credentials:
    async def load(self, clinic_id: UUID) -> PimsCredentials:
        return PimsCredentials(username="vet", password="secret")


@dataclass
class World:
    """The desk and everything behind it."""

    pims: FakeProvider
    clock: Clock
    mirror: MemoryScheduleMirror
    holds: MemoryHoldStore
    cases: MemoryCaseStore
    events: MemoryEventLog
    requests: MemoryWriteRequestStore
    desk: BookingDesk = field(init=False)

    def __post_init__(self) -> None:
        booking = MemoryBookingConfigStore()
        availability = AvailabilityDesk(
            mirror=self.mirror, booking=booking, holds=self.holds, now=self.clock
        )
        self.desk = BookingDesk(
            sessions=BookingSessions(provider=self.pims, credentials=Credentials(), now=self.clock),
            ledger=WriteLedger(self.requests, now=self.clock),
            tools=BookingTools(
                availability=availability,
                reflection=Reflection(mirror=self.mirror, cases=self.cases),
                now=self.clock,
            ),
            events=self.events,
            now=self.clock,
        )


def world() -> World:
    """A fresh world: three known patients, an empty calendar, the clock at NOW."""
    pims = FakeProvider()
    for n, patient_id in enumerate(PATIENTS):
        client = PimsClient(str(19765 + n), "JORDAN", f"REYES{n}")
        pims.add_patient(PimsPatient(patient_id, f"RYDER{n}"), client)
    mirror = MemoryScheduleMirror()
    events = MemoryEventLog()
    return World(
        pims=pims,
        clock=Clock(),
        mirror=mirror,
        holds=MemoryHoldStore(mirror),
        cases=MemoryCaseStore(events),
        events=events,
        requests=MemoryWriteRequestStore(),
    )


def order(
    hour: int = 10,
    minute: int = 0,
    *,
    patient: str = PATIENTS[0],
    room: str | None = "7",
    day: date = TUESDAY,
    **changes: object,
) -> BookingOrder:
    """A booking of a known patient on Tuesday."""
    values: dict[str, object] = {
        "day": day,
        "start_time": time(hour, minute),
        "end_time": (datetime.combine(day, time(hour, minute)) + timedelta(minutes=15)).time(),
        "reason": "Exam",
        "patient_id": patient,
        "room_id": room,
    }
    values.update(changes)
    return BookingOrder(**values)  # type: ignore[arg-type]
