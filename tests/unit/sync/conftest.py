"""Shared pieces for the pipeline tests: a clinic, a clock, appointments, the service."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest

from pims_sync.adapters.memory.events import MemoryEventLog
from pims_sync.adapters.memory.mirror import MemoryScheduleMirror
from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.adapters.memory.stores import MemoryCaseStore, MemoryRunStore
from pims_sync.domain.appointments import Appointment, Client, Patient
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.consultations import Consultation, InvoiceLine
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.domain.runs import SyncType
from pims_sync.metrics import Metrics
from pims_sync.ports.store import CaseWrite, StoredCase
from pims_sync.sync.service import SyncRequest, SyncService

LA = ZoneInfo("America/Los_Angeles")
CLINIC_ID = UUID("11111111-1111-4111-8111-111111111111")
# 22:00 on 9 March in Los Angeles, already 10 March in UTC: days must be the clinic's.
NOW = datetime(2026, 3, 10, 5, 0, tzinfo=UTC)
TODAY = date(2026, 3, 9)


class Clock:
    """A settable clock."""

    def __init__(self, at: datetime = NOW) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


class Clinics:
    def __init__(self, *clinics: Clinic) -> None:
        self.clinics = {c.id: c for c in clinics}

    async def get(self, clinic_id: UUID) -> Clinic | None:
        return self.clinics.get(clinic_id)


class Credentials:
    async def load(self, clinic_id: UUID) -> PimsCredentials:
        return PimsCredentials(username="vet", password="secret")


def appointment(
    appointment_id: str, day: date = TODAY, hour: int = 9, minute: int = 0, **changes: object
) -> Appointment:
    start = datetime.combine(day, time(hour, minute), tzinfo=LA)
    values: dict[str, object] = {
        "appointment_id": appointment_id,
        "start": start,
        "end": start + timedelta(minutes=30),
        "status": "Scheduled",
        "patient": Patient(id=f"p{appointment_id}", name=f"Rex {appointment_id}"),
        "client": Client(id="c1", first_name="Ann", last_name="Lee", phone="555-0100"),
        "provider_name": "Dr Who",
        "room_id": "9",
        "type_description": "Exam",
        "reason": "Vaccines",
    }
    values.update(changes)
    return Appointment(**values)  # type: ignore[arg-type]


def consultation(
    consultation_id: str, *, status: str = "Finalized", notes: str = "<p>Ok</p>"
) -> Consultation:
    return Consultation(
        id=consultation_id,
        status=status,
        notes=notes,
        notes_text="Ok",
        discharge_summary="Rest",
        reason="Limping",
        date="2026-03-09",
        lines=(InvoiceLine(id="1", name="Exam"), InvoiceLine(id="2", name="X-ray", declined=True)),
    )


@dataclass
class World:
    provider: FakeProvider
    cases: MemoryCaseStore
    runs: MemoryRunStore
    clock: Clock
    metrics: Metrics
    service: SyncService
    mirror: MemoryScheduleMirror

    async def run(self, sync_type: SyncType, **options: object) -> object:
        return await self.service.run(SyncRequest(CLINIC_ID, sync_type, **options))  # type: ignore[arg-type]

    async def case(self, appointment_id: str) -> StoredCase:
        key = f"pims-appt-idexx-neo-{appointment_id}"
        found = await self.cases.get_many(clinic_id=CLINIC_ID, external_ids=[key])
        return found[key]

    async def all_cases(self) -> list[StoredCase]:
        start = datetime(2000, 1, 1, tzinfo=UTC)
        return await self.cases.cases_between(
            clinic_id=CLINIC_ID, start=start, end=start.replace(year=2100)
        )


def make_world(
    *appointments: Appointment,
    consultations: tuple[Consultation, ...] = (),
    timeout: float = 30,
    batch_size: int = 200,
) -> World:
    provider = FakeProvider(appointments=appointments, consultations=consultations)
    events = MemoryEventLog()  # the outbox both stores write to, as one database
    cases, runs = MemoryCaseStore(events), MemoryRunStore(events=events)
    clock, metrics, mirror = Clock(), Metrics(), MemoryScheduleMirror()
    service = SyncService(
        clinics=Clinics(Clinic(id=CLINIC_ID, name="Demo", timezone="America/Los_Angeles")),
        credentials=Credentials(),
        provider=provider,
        cases=cases,
        runs=runs,
        metrics=metrics,
        timeout_seconds=timeout,
        now=clock,
        batch_size=batch_size,
        mirror=mirror,
    )
    return World(provider, cases, runs, clock, metrics, service, mirror)


@pytest.fixture
def world() -> World:
    return make_world(
        appointment("1", hour=9),
        appointment("2", hour=10, consultation_id="c2"),
        appointment("3", day=TODAY + timedelta(days=2), hour=11),
    )


async def overwrite(world: World, stored: StoredCase, **changes: object) -> None:
    """Write a case as another writer would."""
    values = {
        "id": stored.id,
        "external_id": stored.external_id,
        "source": stored.source,
        "status": stored.status,
        "type": stored.type,
        "scheduled_at": stored.scheduled_at,
        "metadata": stored.metadata,
    }
    values.update(changes)
    await world.cases.apply(
        clinic_id=CLINIC_ID,
        external_ids=[stored.external_id],
        plan=lambda _: [CaseWrite(**values)],  # type: ignore[arg-type]
    )
