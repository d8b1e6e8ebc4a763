"""Property: random creates, cancels and reschedules under random faults never book twice.

Each step is a booking write with an Idempotency-Key drawn from a small pool (so repeats
and reused keys happen), under one fault of the fake PIMS: an answer lost after the write
was applied, a write that never left, the read-back failing after the write, the process
dying after the write, the calendar down before it. Then every request not yet final is
repeated with its key and body, faults gone and leases past (what a caller retrying does).
Afterwards the PIMS's booked appointments are exactly the confirmed successes (created
minus cancelled), and each successful create or reschedule made exactly one appointment
while no other request made any.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pims_sync.domain.booking_orders import CancelOrder, RescheduleOrder
from pims_sync.domain.write_requests import WriteRoute, WriteState
from pims_sync.errors import PimsSyncError, PimsUnavailableError, PimsWriteNotSentError
from tests.unit.sync.booking_world import CLINIC, PATIENTS, World, order, world

FAULTS = (
    None,
    "lose-create",
    "lose-cancel",
    "not-sent-create",
    "not-sent-cancel",
    "blind-after-create",
    "blind-after-cancel",
    "crash-after-create",
    "calendar-down",
)
KEYS = tuple(f"key-{n}" for n in range(6))
HOURS = (9, 10, 11)
ROOMS = ("6", "7")

step = st.tuples(
    st.sampled_from(("create", "cancel", "reschedule")),
    st.sampled_from(KEYS),
    st.sampled_from(HOURS),
    st.sampled_from(ROOMS),
    st.sampled_from(PATIENTS),
    st.integers(min_value=0, max_value=5),  # which booked appointment a cancel/move names
    st.sampled_from(FAULTS),
)


def _down() -> PimsUnavailableError:
    return PimsUnavailableError("the PIMS is down", endpoint="calendar", status=503)


@dataclass
class Run:
    """A world, the requests sent (by key: route and what was asked), the faults' patches."""

    w: World = field(default_factory=world)
    asked: dict[str, tuple[str, Any]] = field(default_factory=dict)
    patched: list[str] = field(default_factory=list)

    def patch(self, name: str, after: Callable[[], None]) -> None:
        """Run `after` once right after the fake applies its next `name` write."""
        original = getattr(self.w.pims, name)

        def applied(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            setattr(self.w.pims, name, original)
            after()
            return result

        setattr(self.w.pims, name, applied)
        self.patched.append(name)

    def arm(self, fault: str | None) -> None:
        pims = self.w.pims
        if fault == "lose-create":
            pims.lose_next_answer("create")
        elif fault == "lose-cancel":
            pims.lose_next_answer("cancel")
        elif fault == "not-sent-create":
            pims.fail_next("create", PimsWriteNotSentError("no connection", endpoint="create"))
        elif fault == "not-sent-cancel":
            pims.fail_next("cancel", PimsWriteNotSentError("no connection", endpoint="cancel"))
        elif fault == "blind-after-create":
            self.patch("book", lambda: pims.fail_next("calendar", _down(), times=5))
        elif fault == "blind-after-cancel":
            self.patch("unbook", lambda: pims.fail_next("appointment", _down(), times=5))
        elif fault == "crash-after-create":
            self.patch("book", _crash)
        elif fault == "calendar-down":
            pims.fail_next("calendar", _down())

    def disarm(self) -> None:
        pims = self.w.pims
        pims._faults.clear()  # test only: no fault outlives its step
        pims._lost.clear()
        for name in self.patched:
            if name in vars(pims):
                delattr(pims, name)
        self.patched.clear()

    async def send(self, key: str, route: str, asked: Any) -> None:
        """One request; whatever it answers, what the PIMS holds is checked at the end."""
        desk = self.w.desk
        try:
            if route == "create":
                await desk.create(CLINIC, asked, key=key)
            elif route == "cancel":
                await desk.cancel(CLINIC, asked, key=key)
            else:
                await desk.reschedule(CLINIC, asked, key=key)
        except (PimsSyncError, asyncio.CancelledError):
            pass  # refused, failed, unknown or crashed: what the PIMS holds is checked after

    def request(self, kind: str, hour: int, room: str, patient: str, pick: int) -> Any:
        """What a step asks (a cancel or move names a booked appointment, or an unknown one)."""
        booked = self.w.pims.created
        named = booked[pick % len(booked)] if booked and pick < 5 else "4242"
        asked: Any
        if kind == "create":
            asked = order(hour, patient=patient, room=room)
        elif kind == "cancel":
            asked = CancelOrder(named)
        else:
            asked = RescheduleOrder(named, order(hour, 30, patient=None, room=room))
        return asked


def _crash() -> None:
    raise asyncio.CancelledError  # the process died right after IDEXX applied the write


async def _play(steps: list[tuple[str, str, int, str, str, int, str | None]]) -> Run:
    run = Run()
    for kind, key, hour, room, patient, pick, fault in steps:
        asked = run.request(kind, hour, room, patient, pick)
        # A reused key keeps its first request; another body with it is refused (422).
        run.asked.setdefault(key, (kind, asked))
        run.arm(fault)
        await run.send(key, kind, asked)
        run.disarm()
    run.w.clock.at += timedelta(minutes=3)  # every lease is past
    for _ in range(3):  # the callers repeat what is not final, faults gone
        for key, (kind, asked) in run.asked.items():
            stored = await run.w.requests.get(clinic_id=CLINIC.id, key=key)
            if stored is not None and not stored.final:
                await run.send(key, kind, asked)
    return run


async def _expected(run: Run) -> tuple[set[str], int]:
    """The live appointments the stored successes say, and how many they created."""
    created: set[str] = set()
    cancelled: set[str] = set()
    for key in run.asked:
        stored = await run.w.requests.get(clinic_id=CLINIC.id, key=key)
        assert stored is not None
        assert stored.final, (key, stored.state, stored.result)
        if stored.state is not WriteState.SUCCEEDED:
            continue
        answer = stored.result["answer"]
        appointment = answer["appointment"]["id"]
        if stored.route is WriteRoute.CANCEL:
            cancelled.add(appointment)
            continue
        created.add(appointment)
        if answer["oldAppointmentCancelled"]:
            cancelled.add(answer["cancelledAppointmentId"])
    return created - cancelled, len(created)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(step, min_size=1, max_size=10))
def test_the_pims_holds_exactly_the_confirmed_successes(
    steps: list[tuple[str, str, int, str, str, int, str | None]],
) -> None:
    async def check() -> None:
        run = await _play(steps)
        live, made = await _expected(run)
        pims = run.w.pims
        assert {a.appointment_id for a in pims.live_bookings()} == live
        assert len(pims.created) == made  # one appointment per successful key, none else

    asyncio.run(check())
