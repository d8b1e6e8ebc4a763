"""The FakeProvider's fault knobs and counters (its behaviour is covered by the contract)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.adapters.memory.provider import FakeProvider
from pims_sync.domain.appointments import StaffEvent, StaffKind
from pims_sync.domain.credentials import PimsCredentials
from pims_sync.errors import PimsRetriesExhaustedError, PimsUnavailableError
from pims_sync.ports.provider import ClinicLogin

LOGIN = ClinicLogin(uuid.uuid4(), PimsCredentials(username="u@example.com", password="p"))
START = datetime(2026, 1, 22, tzinfo=UTC)


async def test_queued_faults_strike_in_order_then_stop() -> None:
    shift = StaffEvent("r1", StaffKind.ROSTER, START, START + timedelta(hours=8))
    later = StaffEvent("b1", StaffKind.BLOCK, START + timedelta(days=2), START + timedelta(days=3))
    provider = FakeProvider(staff=[shift, later])
    provider.fail_next("calendar", PimsUnavailableError(status=500), times=2)
    async with provider.session(LOGIN) as session:
        for _ in range(2):
            with pytest.raises(PimsUnavailableError):
                await session.fetch_appointments(START, START + timedelta(days=1))
        page = await session.fetch_appointments(START, START + timedelta(days=1))
    assert (len(page), page.staff) == (0, (shift,))
    assert provider.calls["calendar"] == 3
    assert provider.logins == 1
    assert provider.open_sessions == 0


async def test_login_faults_and_unknown_operations() -> None:
    provider = FakeProvider()
    provider.fail_next("login", PimsRetriesExhaustedError("down"))
    with pytest.raises(PimsRetriesExhaustedError):
        async with provider.session(LOGIN):
            pass
    with pytest.raises(ValueError, match="unknown operation"):
        provider.fail_next("write", PimsUnavailableError())
