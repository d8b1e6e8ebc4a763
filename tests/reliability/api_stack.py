"""The real HTTP API for hostile-input tests: uvicorn in a thread, a real database, a fake PIMS.

The PIMS behind it is the in-memory FakeProvider (a handful of appointments), so every
sync the tests manage to start really runs, through the real pipeline and the real
database, and ends in milliseconds. `snapshot()` reads what a rejected request must not
have changed.
"""

from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, create_engine, func, select

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.adapters.sql import tables
from pims_sync.adapters.sql.engine import driver_url
from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.appointments import Appointment, Client, Patient
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.ports.provider import ClinicLogin
from pims_sync.settings import load_settings
from tests.conftest import new_postgres_database
from tests.e2e.sync_stack import ThreadedApi

ENCRYPTION_KEY = "hostile-input-encryption-key-0123456789"
PASSWORD = "fake-pims-password"
ZONE = "America/Chicago"


def fake_appointments(count: int = 4) -> list[Appointment]:
    """A few appointments tomorrow, clinic time: enough for a sync to write cases."""
    start = datetime.now(ZoneInfo(ZONE)).replace(hour=9, minute=0, second=0, microsecond=0)
    start += timedelta(days=1)
    return [
        Appointment(
            appointment_id=str(700000 + n),
            start=start + timedelta(minutes=30 * n),
            end=start + timedelta(minutes=30 * n + 20),
            status="Scheduled",
            patient=Patient(id=str(n), name=f"PET {n}", species="Canine"),
            client=Client(id=str(n), first_name="ANA", last_name=f"OWNER{n}"),
            type_description="Exam",
        )
        for n in range(count)
    ]


@dataclass(frozen=True)
class Tenants:
    """Who the tests call as: the clinic's key, a service key, and a second clinic."""

    clinic_id: uuid.UUID
    clinic_key: str
    service_key: str
    other_clinic_id: uuid.UUID


async def _seed(services: Services) -> Tenants:
    clinic = await services.clinics.add(name="Hostile Vet", timezone=ZONE)
    other = await services.clinics.add(name="Other Vet", timezone=ZONE)
    await services.vault.save(clinic.id, PimsCredentials("vet@example.com", PASSWORD, "1001"))
    _, clinic_key = await services.api_keys.create(clinic_id=clinic.id, name="hostile")
    _, service_key = await services.api_keys.create(clinic_id=None, name="hostile-service")
    return Tenants(clinic.id, clinic_key, service_key, other.id)


class HostileApi(ThreadedApi):
    """The real app under uvicorn in a thread, on a migrated database, with a fake PIMS."""

    def __init__(self, database_url: str, **settings: object) -> None:
        super().__init__(
            load_settings(
                database_url=database_url,
                encryption_key=ENCRYPTION_KEY,
                enable_scheduler=False,
                **settings,
            ),
            name="hostile-api",
        )
        self.database_url = database_url
        self.provider = FakeProvider(appointments=fake_appointments(), password=PASSWORD)
        self.tenants: Tenants | None = None
        self.db: Engine = create_engine(driver_url(database_url, asynchronous=False))

    async def check_login(self, login: ClinicLogin) -> float:
        """The login check against the fake PIMS (never a real browser or network)."""
        async with self.provider.session(login):
            return 0.0

    async def build(self) -> Services:
        """Services with the fake PIMS, and the tenants seeded."""
        services = build_services(self.settings)
        services.pims_provider = self.provider
        services.login_checker = self.check_login  # the login check logs in to the fake too
        self.tenants = await _seed(services)
        return services

    def stop(self) -> None:
        """Stop uvicorn, then the test's own engine."""
        super().stop()
        self.db.dispose()

    @property
    def who(self) -> Tenants:
        """The seeded tenants (set once the server started)."""
        assert self.tenants is not None
        return self.tenants

    def snapshot(self) -> dict[str, Any]:
        """What a rejected request must leave alone: runs, cases, keys, rules, holds, writes."""
        with self.db.connect() as conn:
            counts = {
                table.name: conn.execute(select(func.count()).select_from(table)).scalar_one()
                for table in (
                    tables.case_sync_audits,
                    tables.cases,
                    tables.patients,
                    tables.clinics,
                    tables.clinic_api_keys,
                    tables.pims_credentials,
                    tables.pims_appointments,
                    tables.pims_write_requests,
                )
            }
            schedules = conn.execute(
                select(
                    tables.clinic_schedule_configs.c.clinic_id,
                    tables.clinic_schedule_configs.c.sync_schedules,
                )
            ).all()
            booking = conn.execute(
                select(
                    tables.clinic_booking_configs.c.clinic_id,
                    tables.clinic_booking_configs.c.rules,
                )
            ).all()
            holds = conn.execute(select(tables.availability_holds)).all()
        return {
            **counts,
            "schedules": sorted((str(c), repr(s)) for c, s in schedules),
            "booking": sorted((str(c), repr(r)) for c, r in booking),
            "holds": sorted(map(repr, holds)),
        }


@contextmanager
def migrated_copy(kind: str, request: pytest.FixtureRequest, tmp: Path) -> Iterator[str]:
    """A database of this kind at head, copied from the session's migrated template."""
    if kind == "sqlite":
        path = tmp / "hostile.db"
        shutil.copyfile(request.getfixturevalue("_migrated_sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    template = request.getfixturevalue("_migrated_postgres_template")
    with new_postgres_database("hostile", template=template) as url:
        yield url


@contextmanager
def running_api(
    kind: str, request: pytest.FixtureRequest, tmp: Path, **settings: object
) -> Iterator[HostileApi]:
    """A started HostileApi on a fresh database of this kind (with these settings); stopped."""
    with migrated_copy(kind, request, tmp) as url:
        api = HostileApi(url, **settings).start()
        try:
            yield api
        finally:
            api.stop()


# The longest error message the service answers: a message never carries huge input back.
MAX_MESSAGE_CHARS = 300


def check_envelope(status: int, body: object) -> dict[str, Any]:
    """The error envelope (README.md#http-api), checked field by field; returns the body."""
    assert isinstance(body, dict), body
    assert body.get("success") is False, body
    message, code, stamp = body.get("error"), body.get("code"), body.get("timestamp")
    assert isinstance(message, str), body
    assert 0 < len(message) <= MAX_MESSAGE_CHARS, len(message)
    assert isinstance(code, str), body
    assert code, body
    assert isinstance(stamp, str), body
    assert datetime.fromisoformat(stamp).tzinfo is not None, stamp
    if status == 400 and code == "validation_error":
        problems = body.get("validationErrors")
        assert isinstance(problems, list), body
        assert problems, body
        for problem in problems:
            assert set(problem) == {"field", "message"}, problem
            assert len(problem["field"]) <= MAX_MESSAGE_CHARS, problem
            assert 0 < len(problem["message"]) <= MAX_MESSAGE_CHARS, problem
    return body
