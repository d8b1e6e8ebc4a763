"""Convergence against the real stack: simulator over HTTP, the API, Chromium, SQLite/Postgres.

Hypothesis drives random PIMS changes through the simulator's control API and random
phases through `POST /api/sync/...` (tests/reliability/convergence.py); after every
phase no case is duplicated, and after a final full sync the cases equal the
simulator's truth (tests/reliability/truth.py). One stack per backend (module scope);
each example starts from the generated world (`/__sim__/reset`, clock frozen at
SIM_NOW) and an empty clinic (its cases and patients deleted).

The service's clock follows the simulator's: the simulator's frozen now plus the real
seconds since it was last set, re-set before every phase, so "today", "now" and the
enrichment cut-off are the simulator's, clock advances included.

More examples: `PIMS_SYNC_CONVERGENCE_PROFILE=long` (see docs/pipeline.md).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from hypothesis.stateful import run_state_machine_as_test
from sqlalchemy import delete, func, select

from pims_sync.adapters.sql import tables
from tests.conftest import migrated_database
from tests.e2e import sync_stack
from tests.e2e.sync_stack import SIM_INSTANT, SIM_NOW, ZONE, Stack, running_stack
from tests.reliability.convergence import (
    DAYS_AHEAD,
    LOOKBACK_DAYS,
    TIMEOUT,
    ConvergenceMachine,
    Phase,
    profile_settings,
)
from tests.reliability.truth import CaseRow, PimsConsultation, Snapshot, wall_instant

pytestmark = pytest.mark.browser

SETTINGS = profile_settings(examples=6, long_examples=100, steps=10)
WALL = "%Y-%m-%d %H:%M:%S"


@pytest.fixture(scope="module")
def database(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A migrated database of the module's backend."""
    with migrated_database(
        request.param, tmp_path_factory.mktemp("convergence"), "convergence"
    ) as url:
        yield url


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """SQLite, then Postgres (marked, so `-m 'not postgres'` works)."""
    if "database" in metafunc.fixturenames:
        backends = ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
        metafunc.parametrize("database", backends, indirect=True, scope="module")


class FollowingClock:
    """The service's clock: the simulator's (frozen) now plus real seconds since it was set."""

    def __init__(self) -> None:
        self._at, self._since = SIM_INSTANT.astimezone(UTC), time.monotonic()

    def set(self, instant: datetime) -> None:
        self._at, self._since = instant.astimezone(UTC), time.monotonic()

    def __call__(self) -> datetime:
        return self._at + timedelta(seconds=time.monotonic() - self._since)


class HttpPims:
    """The simulator through its control API, and its page-data through a logged-in client."""

    def __init__(self, stack: Stack, clock: FollowingClock) -> None:
        self.zone: ZoneInfo = ZONE
        self.control = stack.control.http
        self.clock = clock
        config = stack.sim.config
        self._login = {
            "company_id": config.company_ids()[0],
            "username": config.username,
            "password": config.password,
        }
        self.idexx = httpx.Client(base_url=stack.sim.base_url, timeout=30)

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        response = self.control.post(path, json=body or {})
        assert response.status_code < 300, f"{path}: {response.text}"
        return response.json()

    def reset(self) -> None:
        """The generated world again, clock frozen at SIM_NOW."""
        self._post("/reset")
        self._post("/clock", {"now": SIM_NOW, "frozen": True})
        self.clock.set(SIM_INSTANT)

    def now(self) -> datetime:
        clock = self.control.get("/clock").json()["now"]
        return datetime.strptime(clock, WALL)  # noqa: DTZ007 - the simulator's wall clock

    def instant(self) -> datetime:
        """The simulated now as a true instant."""
        return wall_instant(self.now().strftime(WALL), self.zone)

    def events(self, first: date, last: date) -> list[dict[str, Any]]:
        params = {"start": first.isoformat(), "end": last.isoformat()}
        events = self.control.get("/appointments", params=params).json()
        return [e for e in events if not e["is_block"] and not e["is_roster"]]

    def consultation(self, consultation_id: str) -> PimsConsultation | None:
        path = f"/consultations/{consultation_id}/page-data"
        response = self.idexx.get(path)
        if response.status_code in (302, 401):  # no session yet, or the clock expired it
            self.idexx.post("/login", data=self._login)
            response = self.idexx.get(path)
        if response.status_code == 404:
            return None
        assert response.status_code == 200, f"{path}: {response.status_code}"
        return PimsConsultation.from_page_data(consultation_id, response.json())

    def add(self, start: datetime, minutes: int, patient_id: int) -> str:
        body = {"start": start.strftime(WALL), "durationMinutes": minutes, "patientId": patient_id}
        return str(self._post("/appointments", body)["appointment"]["id"])

    def move(self, appointment_id: str, start: datetime) -> None:
        self._post(f"/appointments/{appointment_id}/move", {"start": start.strftime(WALL)})

    def cancel(self, appointment_id: str) -> None:
        self._post(f"/appointments/{appointment_id}/cancel")

    def delete(self, appointment_id: str) -> None:
        self._post(f"/appointments/{appointment_id}/delete")

    def restore(self, appointment_id: str) -> None:
        self._post(f"/appointments/{appointment_id}/restore")

    def write_notes(self, consultation_id: str, html: str, status: str) -> None:
        self._post(f"/consultations/{consultation_id}/notes", {"notes": html, "status": status})

    def change_phone(self, client_id: str, phone: str | None) -> None:
        self._post(f"/clients/{client_id}", {"phone": phone})

    def advance(self, minutes: int) -> None:
        self._post("/clock", {"advanceMinutes": minutes})


@dataclass
class HttpService:
    """The real API over HTTP; the cases read straight from the database."""

    stack: Stack
    pims: HttpPims
    clock: FollowingClock
    runs: list[float] = field(default_factory=list)

    def clear(self) -> None:
        """An empty clinic: its patients and cases deleted."""
        clinic = self.stack.clinic_id
        with self.stack.db.engine.begin() as conn:
            conn.execute(delete(tables.patients).where(tables.patients.c.clinic_id == clinic))
            conn.execute(delete(tables.cases).where(tables.cases.c.clinic_id == clinic))

    def run(self, phase: Phase) -> None:
        self.clock.set(self.pims.instant())  # the service's now is the simulator's
        started = time.monotonic()
        response = self.stack.sync(phase.kind, **phase.body())
        self.runs.append(time.monotonic() - started)
        body = response.json()
        assert response.status_code == 200, f"{phase.kind}: {response.status_code} {body}"
        assert body["success"] is True, f"{phase.kind} did not succeed: {body}"

    def start_synced(self) -> None:
        self.run(Phase("full", days_ahead=DAYS_AHEAD, lookback_days=LOOKBACK_DAYS))

    def snapshot(self) -> Snapshot:
        clinic = self.stack.clinic_id
        cases, patients = tables.cases, tables.patients
        with self.stack.db.engine.connect() as conn:
            case_rows = conn.execute(select(cases).where(cases.c.clinic_id == clinic)).mappings()
            found = [dict(row) for row in case_rows]
            patient_rows = conn.execute(
                select(patients).where(patients.c.clinic_id == clinic)
            ).mappings()
            by_case = {str(row["case_id"]): dict(row) for row in patient_rows}
            counts = conn.execute(
                select(patients.c.case_id, func.count())
                .where(patients.c.clinic_id == clinic)
                .group_by(patients.c.case_id)
            ).all()
        return Snapshot(
            [
                CaseRow(
                    case_id=str(row["id"]),
                    external_id=row["external_id"],
                    source=row["source"],
                    status=row["status"],
                    type=row["type"],
                    scheduled_at=row["scheduled_at"],
                    metadata=row["metadata"] or {},
                    patient=by_case.get(str(row["id"])),
                )
                for row in found
            ],
            {str(case_id): int(n) for case_id, n in counts},
        )


@dataclass
class Real:
    """One backend's stack with the simulator and the service wrapped for the machine."""

    pims: HttpPims
    service: HttpService
    examples: int = 0

    def machine(self) -> ConvergenceMachine:
        """A fresh example: the generated world, an empty clinic."""
        self.examples += 1
        self.pims.reset()
        self.service.clear()
        return ConvergenceMachine(self.pims, self.service)


@pytest.fixture(scope="module")
def real(database: str) -> Iterator[Real]:
    """The stack with the service's clock following the simulator's."""
    clock = FollowingClock()
    follow: Callable[[], Callable[[], datetime]] = lambda: clock  # noqa: E731
    with pytest.MonkeyPatch.context() as patch:
        # sync_stack reads its clock factory when the server starts: hand it ours.
        patch.setattr(sync_stack, "service_clock", follow)
        for stack in running_stack(database):
            pims = HttpPims(stack, clock)
            try:
                yield Real(pims, HttpService(stack, pims, clock))
            finally:
                pims.idexx.close()


@TIMEOUT
def test_cases_converge_to_the_pims_and_never_duplicate(real: Real, database: str) -> None:
    started = time.monotonic()
    run_state_machine_as_test(real.machine, settings=SETTINGS)
    runs = real.service.runs
    backend = database.split(":", 1)[0]
    print(
        f"\nconvergence on {backend}: {real.examples} examples, {len(runs)} sync runs "
        f"(mean {sum(runs) / max(1, len(runs)):.2f} s, max {max(runs, default=0):.2f} s), "
        f"{time.monotonic() - started:.1f} s"
    )
