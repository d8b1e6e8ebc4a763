"""Convergence, fast: the simulator's world in-process, the real parser, the in-memory stores.

The same state machine as tests/reliability/test_convergence.py (random PIMS changes and
phases; never a duplicate; the truth after a final full sync), without HTTP, Chromium or
a database, so it runs hundreds of examples in seconds. The provider reads the
simulator's own feed and page-data shapes and parses them with the IDEXX parser.

More examples: `PIMS_SYNC_CONVERGENCE_PROFILE=long` (see docs/pipeline.md).
"""

from __future__ import annotations

import asyncio
import copy
import dataclasses
import functools
import json
import pickle
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis.stateful import run_state_machine_as_test

from pims_sync.adapters.idexx.page_data import parse_consultation
from pims_sync.adapters.idexx.parsing import parse_calendar
from pims_sync.adapters.memory.stores import MemoryCaseStore, MemoryRunStore
from pims_sync.domain.appointments import CalendarPage, Client
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.consultations import Consultation
from pims_sync.domain.runs import SyncType
from pims_sync.errors import PimsNotFoundError
from pims_sync.metrics import Metrics
from pims_sync.ports.provider import ClinicLogin, check_window
from pims_sync.simulator import shapes, timeline
from pims_sync.simulator.config import SimulatorConfig
from pims_sync.simulator.feeds import calendar_events
from pims_sync.simulator.simulation import Simulation
from pims_sync.simulator.world import NewAppointment
from pims_sync.sync.service import SyncRequest, SyncService
from tests.reliability.convergence import (
    DAYS_AHEAD,
    LOOKBACK_DAYS,
    TIMEOUT,
    ConvergenceMachine,
    Phase,
    final_truth,
    profile_settings,
)
from tests.reliability.truth import (
    CaseRow,
    PimsConsultation,
    Snapshot,
    assert_none,
    convergence_problems,
)

from .conftest import CLINIC_ID, Clinics, Credentials, appointment, make_world

ZONE = ZoneInfo("America/Los_Angeles")
# A Wednesday afternoon (simulator wall clock, naive): past, running and later visits.
START = datetime(2026, 6, 10, 14, 31)  # noqa: DTZ001
SETTINGS = profile_settings(examples=200, long_examples=5000, steps=20)
SYNC_TYPES = {
    "inbound": SyncType.INBOUND,
    "cases": SyncType.CASES,
    "reconcile": SyncType.RECONCILIATION,
    "full": SyncType.FULL,
}


def _json(value: Any) -> Any:
    """What crosses the wire: a JSON round trip."""
    return json.loads(json.dumps(value))


@functools.cache
def _pristine() -> bytes:
    """One generated simulator, pickled: unpickling a copy is 40 times faster than deepcopy."""
    return pickle.dumps(Simulation(SimulatorConfig(seed=42, timezone=ZONE.key)))


class LocalPims:
    """The simulator's world in-process: the control API's changes, by direct calls."""

    def __init__(self) -> None:
        # A copy of one generated simulator: generating the clinic's people is the slow part.
        self.sim: Simulation = pickle.loads(_pristine())
        self.sim.clock.set(START, frozen=True)
        self.clinic = self.sim.world.clinics[0]
        self.zone = ZONE
        self._events: dict[tuple[Any, ...], list[dict[str, Any]]] = {}

    def now(self) -> datetime:
        return self.sim.clock.now()

    def instant(self) -> datetime:
        """The simulated now as an aware instant: the service's clock."""
        return self.now().replace(tzinfo=ZONE).astimezone(UTC)

    def events(self, first: date, last: date) -> list[dict[str, Any]]:
        key = (first, last, self.sim.world.version, self.now())
        if key not in self._events:  # the same world at the same moment shows the same feed
            start = datetime.combine(first, datetime.min.time())
            end = datetime.combine(last, datetime.max.time()).replace(microsecond=0)
            events = calendar_events(self.sim, self.clinic, start, end)
            self._events = {key: [e for e in events if not e["is_block"] and not e["is_roster"]]}
        return self._events[key]

    def page_data(self, consultation_id: str) -> dict[str, Any] | None:
        """`/consultations/{id}/page-data` as the simulator serves it (None = 404)."""
        now = self.sim.clock.now()
        world = self.sim.world
        visit = world.visit_for_consultation(int(consultation_id)) if consultation_id else None
        if visit is None or not timeline.has_consultation(visit, now):
            return None
        page: dict[str, Any] = _json(shapes.page_data(self.clinic, visit, now))
        return page

    def consultation(self, consultation_id: str) -> PimsConsultation | None:
        page = self.page_data(consultation_id)
        return None if page is None else PimsConsultation.from_page_data(consultation_id, page)

    def _visit(self, appointment_id: str) -> Any:
        visit = self.sim.world.visit(int(appointment_id))
        assert visit is not None, appointment_id
        return visit

    def add(self, start: datetime, minutes: int, patient_id: int) -> str:
        new = NewAppointment(
            start=start,
            end=start + timedelta(minutes=minutes),
            patient_id=patient_id,
            type_id=None,
            vet_id=None,
            room_id=None,
            reason=None,
            booked_by="Front Desk",
        )
        return str(self.sim.world.add(self.clinic, new, self.now()).id)

    def move(self, appointment_id: str, start: datetime) -> None:
        self.sim.world.move(self._visit(appointment_id), start, None, self.now())

    def cancel(self, appointment_id: str) -> None:
        self.sim.world.cancel(self._visit(appointment_id), "Cancelled via phone", self.now())

    def delete(self, appointment_id: str) -> None:
        self.sim.world.delete(self._visit(appointment_id), self.now())

    def restore(self, appointment_id: str) -> None:
        self.sim.world.restore(self._visit(appointment_id), self.now())

    def write_notes(self, consultation_id: str, html: str, status: str) -> None:
        visit = self.sim.world.visit_for_consultation(int(consultation_id))
        assert visit is not None, consultation_id
        self.sim.world.write_notes(visit, html, status)

    def change_phone(self, client_id: str, phone: str | None) -> None:
        self.sim.world.change_client(int(client_id), {"phone": phone})

    def advance(self, minutes: int) -> None:
        self.sim.clock.advance(minutes)


class LocalSession:
    """A PimsSession over the in-process simulator, through the IDEXX parser."""

    def __init__(self, pims: LocalPims) -> None:
        self.pims = pims

    async def fetch_appointments(self, start: datetime, end: datetime) -> CalendarPage:
        check_window(start, end)
        first = start.astimezone(ZONE).replace(tzinfo=None)
        last = (end - timedelta(seconds=1)).astimezone(ZONE).replace(tzinfo=None)
        payload = _json(calendar_events(self.pims.sim, self.pims.clinic, first, last))
        return parse_calendar(payload, ZONE, window=(start, end))

    async def fetch_consultation(self, consultation_id: str) -> Consultation:
        page = self.pims.page_data(consultation_id)
        if page is None:
            raise PimsNotFoundError(f"Consultation {consultation_id} not found")
        return parse_consultation(page, consultation_id)


class LocalProvider:
    """A PimsProvider whose sessions read the in-process simulator."""

    name = "IDEXX Neo (in-process simulator)"

    def __init__(self, pims: LocalPims) -> None:
        self.pims = pims

    @asynccontextmanager
    async def session(self, login: ClinicLogin) -> AsyncIterator[LocalSession]:
        del login
        yield LocalSession(self.pims)

    async def aclose(self) -> None:
        """Nothing to release."""


class MemoryService:
    """The real SyncService over the in-memory stores, on its own event loop."""

    def __init__(self, pims: LocalPims) -> None:
        self.loop = asyncio.new_event_loop()
        self.cases = MemoryCaseStore()
        self.service = SyncService(
            clinics=Clinics(Clinic(id=CLINIC_ID, name="Convergence", timezone=ZONE.key)),
            credentials=Credentials(),
            provider=LocalProvider(pims),
            cases=self.cases,
            runs=MemoryRunStore(),
            metrics=Metrics(),
            timeout_seconds=60,
            now=pims.instant,
            batch_size=25,  # several batches per phase, as in production
        )

    def run(self, phase: Phase) -> None:
        options = {
            "start_date": phase.start_date,
            "end_date": phase.end_date,
            "days_ahead": phase.days_ahead,
            "lookback_days": phase.lookback_days,
        }
        request = SyncRequest(
            CLINIC_ID,
            SYNC_TYPES[phase.kind],
            **{k: v for k, v in options.items() if v is not None},  # type: ignore[arg-type]
        )
        outcome = self.loop.run_until_complete(self.service.run(request))
        result = outcome.result().wire()
        assert result["success"], f"{phase.kind} failed: {result}"

    def snapshot(self) -> Snapshot:
        # The store's own dicts, read without copies (a snapshot follows every phase).
        stored = [case for (clinic, _), case in self.cases._cases.items() if clinic == CLINIC_ID]
        patients = {str(case_id): 1 for case_id in self.cases._patients}
        rows: list[CaseRow] = []
        for case in stored:
            patient = self.cases._patients.get(case.id)
            rows.append(
                CaseRow(
                    case_id=str(case.id),
                    external_id=case.external_id,
                    source=case.source,
                    status=case.status,
                    type=case.type,
                    scheduled_at=case.scheduled_at,
                    metadata=case.metadata,
                    patient=dataclasses.asdict(patient) if patient is not None else None,
                )
            )
        return Snapshot(rows, patients)

    def start_synced(self) -> None:
        """The cases a first full sync writes, copied (the same world every time)."""
        synced = _synced_cases()
        self.cases._cases = copy.deepcopy(synced._cases)
        self.cases._patients = copy.deepcopy(synced._patients)

    def close(self) -> None:
        self.loop.close()


@functools.cache
def _synced_cases() -> MemoryCaseStore:
    service = MemoryService(LocalPims())
    service.run(Phase("full", days_ahead=DAYS_AHEAD, lookback_days=LOOKBACK_DAYS))
    service.close()
    return service.cases


class LocalConvergence(ConvergenceMachine):
    """The machine over a fresh in-process simulator and fresh in-memory stores."""

    def __init__(self) -> None:
        pims = LocalPims()
        self.memory = MemoryService(pims)
        super().__init__(pims, self.memory)

    def teardown(self) -> None:
        try:
            super().teardown()
        finally:
            self.memory.close()


@TIMEOUT
def test_cases_converge_to_the_pims_and_never_duplicate() -> None:
    run_state_machine_as_test(LocalConvergence, settings=SETTINGS)


# --- counterexamples the machine found, kept as plain regression tests --------------------


def _converged(pims: LocalPims, service: MemoryService) -> None:
    """A final full sync; then the cases must equal the PIMS's truth."""
    service.run(Phase("full", days_ahead=DAYS_AHEAD, lookback_days=LOOKBACK_DAYS))
    problems = convergence_problems(final_truth(pims, set()), service.snapshot())
    assert_none("cases differ from the PIMS", problems)


def _later_today(pims: LocalPims) -> dict[str, Any]:
    """An appointment later today: no consultation yet, so enrichment never rewrites it."""
    now = pims.now()
    events = pims.events(now.date(), now.date())
    return next(e for e in events if e["start"] > f"{now:%Y-%m-%d %H:%M:%S}" and e["client_id"])


def test_a_cancellation_reconciled_alone_keeps_the_new_phone_of_its_owner() -> None:
    pims = LocalPims()
    service = MemoryService(pims)
    service.start_synced()
    event = _later_today(pims)
    pims.cancel(str(event["id"]))
    pims.change_phone(str(event["client_id"]), "408-555-0142")
    service.run(Phase("reconcile", lookback_days=1))
    _converged(pims, service)


def test_a_restore_by_reconciliation_keeps_the_new_phone_of_its_owner() -> None:
    pims = LocalPims()
    service = MemoryService(pims)
    service.start_synced()
    event = _later_today(pims)
    pims.delete(str(event["id"]))
    service.run(Phase("reconcile", lookback_days=1))
    pims.restore(str(event["id"]))
    pims.change_phone(str(event["client_id"]), None)
    service.run(Phase("reconcile", lookback_days=1))
    _converged(pims, service)


async def test_a_cancellation_reconciled_alone_brings_type_and_owner_in_step() -> None:
    """Type, status and patients row follow the PIMS, so the next inbound has nothing stale."""
    world = make_world(appointment("1", hour=9))
    await world.run(SyncType.INBOUND)
    owner = Client(id="c1", first_name="Ann", last_name="Lee", phone="555-0199")
    world.provider.move("1", status="Cancelled", type_description="Surgery", client=owner)
    await world.run(SyncType.RECONCILIATION, lookback_days=1)
    await world.run(SyncType.INBOUND)
    case = await world.case("1")
    patient = await world.cases.patient_of(clinic_id=CLINIC_ID, external_id=case.external_id)
    assert (case.status, case.type) == ("reviewed", "surgery")
    assert patient is not None
    assert patient.owner_phone == "555-0199"
