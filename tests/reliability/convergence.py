"""The convergence property as a hypothesis state machine, over any PIMS and any service.

Random PIMS changes (add, move, cancel, delete, restore, notes, phone, clock) interleave
with random phases (inbound, cases, reconciliation, full); after every phase the cases
must hold no duplicate, and after a final full sync they must equal the PIMS's truth
(`truth.py`). The same machine runs against the real stack (simulator over HTTP, the
API, Chromium, SQLite/Postgres) and in memory (the simulator's world in-process, the
in-memory stores), with many more examples there.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
)

from pims_sync.domain.cases import external_id
from tests.reliability.truth import (
    PimsAppointment,
    PimsConsultation,
    Snapshot,
    Truth,
    assert_none,
    convergence_problems,
    duplicate_problems,
    wall_instant,
)

# The final full sync's window, and the phases' (small: every sync stays quick).
DAYS_AHEAD = 1
LOOKBACK_DAYS = 1
# The clock never moves more than this in one example, so the days seen stay near today.
MAX_CLOCK_ADVANCE = timedelta(hours=20)
PHONES = ("408-555-0142", "4085550199", "+1 (650) 555-0123", " 650-555-0100 ", None)
NOTE_WORDS = st.text(alphabet=st.sampled_from("abcdefgh ÉéñØ<>&'\"ü漢"), min_size=0, max_size=24)

PROFILE = os.environ.get("PIMS_SYNC_CONVERGENCE_PROFILE", "default")
# The suite's per-test timeout (300 s) holds for the default profile; a long search has none.
TIMEOUT = pytest.mark.timeout(0 if PROFILE == "long" else 300)


def profile_settings(examples: int, long_examples: int, steps: int) -> settings:
    """Repeatable settings (derandomized, no example database); `long` runs many more."""
    chosen = long_examples if PROFILE == "long" else examples
    return settings(
        max_examples=chosen,
        stateful_step_count=steps,
        deadline=None,
        derandomize=PROFILE != "random",
        database=None,
        print_blob=True,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.filter_too_much,
        ],
    )


@dataclass(frozen=True, slots=True)
class Phase:
    """One sync to run: type and dates (the service adapter turns it into its request)."""

    kind: str  # inbound | cases | reconcile | full
    start_date: date | None = None
    end_date: date | None = None
    days_ahead: int | None = None
    lookback_days: int | None = None

    def body(self) -> dict[str, Any]:
        """The HTTP body (the API's names)."""
        body: dict[str, Any] = {}
        if self.start_date is not None:
            body["startDate"] = self.start_date.isoformat()
        if self.end_date is not None:
            body["endDate"] = self.end_date.isoformat()
        if self.days_ahead is not None:
            body["daysAhead"] = self.days_ahead
        if self.lookback_days is not None:
            body["lookbackDays"] = self.lookback_days
        return body


class PimsWorld(Protocol):
    """The simulated IDEXX Neo: change it, read what it says."""

    zone: ZoneInfo

    def now(self) -> datetime:
        """The simulated wall clock (naive, clinic zone)."""
        ...

    def events(self, first: date, last: date) -> list[dict[str, Any]]:
        """The appointments (no blocks, rosters) the feed lists over these days."""
        ...

    def consultation(self, consultation_id: str) -> PimsConsultation | None:
        """The consultation's page-data (None when the PIMS has none)."""
        ...

    def add(self, start: datetime, minutes: int, patient_id: int) -> str:
        """Book an appointment; its id."""
        ...

    def move(self, appointment_id: str, start: datetime) -> None: ...

    def cancel(self, appointment_id: str) -> None: ...

    def delete(self, appointment_id: str) -> None: ...

    def restore(self, appointment_id: str) -> None: ...

    def write_notes(self, consultation_id: str, html: str, status: str) -> None: ...

    def change_phone(self, client_id: str, phone: str | None) -> None: ...

    def advance(self, minutes: int) -> None: ...


class SyncUnderTest(Protocol):
    """The service: run a phase, read the clinic's cases."""

    def run(self, phase: Phase) -> None:
        """Run the phase to its end; fail the test if it did not succeed."""
        ...

    def snapshot(self) -> Snapshot:
        """Every case of the clinic with its patient rows."""
        ...

    def start_synced(self) -> None:
        """Bring the empty clinic up to date with the PIMS (a full sync, or its result)."""
        ...


def final_truth(pims: PimsWorld, notes_frozen: set[str]) -> Truth:
    """What the PIMS says now over the final full sync's window."""
    now = pims.now()
    today = now.date()
    events = pims.events(today - timedelta(days=LOOKBACK_DAYS), today + timedelta(days=DAYS_AHEAD))
    appointments = [PimsAppointment.from_event(event, pims.zone) for event in events]
    instant = wall_instant(now.strftime("%Y-%m-%d %H:%M:%S"), pims.zone)
    consultations: dict[str, PimsConsultation] = {}
    for appointment in appointments:
        cid = appointment.consultation_id
        if cid is not None and appointment.start < instant:
            page = pims.consultation(cid)
            if page is not None:
                consultations[cid] = page
    return Truth(
        zone=pims.zone,
        today=today,
        now=instant,
        days_ahead=DAYS_AHEAD,
        lookback_days=LOOKBACK_DAYS,
        appointments=appointments,
        consultations=consultations,
        notes_frozen=frozenset(notes_frozen),
    )


class ConvergenceMachine(RuleBasedStateMachine):
    """Changes and phases in any order; no duplicate ever; the truth after a final sync."""

    def __init__(self, pims: PimsWorld, service: SyncUnderTest) -> None:
        super().__init__()
        self.pims, self.service = pims, service
        self.advanced = timedelta()
        self.deleted: list[str] = []
        self.notes_frozen: set[str] = set()
        self.synced_since_check = True
        self.steps: list[str] = []
        self.known: set[str] = set()  # every appointment id the phases could have seen
        self._seen: list[dict[str, Any]] | None = None
        self.focus = self._choose_focus()
        self.touched: list[str] = []

    # --- picking ------------------------------------------------------------------------

    def _today(self) -> date:
        return self.pims.now().date()

    def _near(self) -> list[dict[str, Any]]:
        """The appointments the phases can see now: yesterday to tomorrow (read once a step)."""
        if self._seen is None:
            today = self._today()
            events = self.pims.events(today - timedelta(days=1), today + timedelta(days=1))
            self._seen = sorted(events, key=lambda e: int(e["id"]))
            self.known.update(external_id(str(e["id"])) for e in self._seen)
        return self._seen

    def _choose_focus(self) -> set[str]:
        """Two appointments a day (an earlier, a later one), yesterday to tomorrow.

        Changes spread over ~120 appointments rarely meet; bugs live where they do
        (deleted, then restored, then its owner's phone changed...).
        """
        by_day: dict[str, list[dict[str, Any]]] = {}
        for event in sorted(self._near(), key=lambda e: (e["start"], int(e["id"]))):
            by_day.setdefault(str(event["start"])[:10], []).append(event)
        focus: set[str] = set()
        for events in by_day.values():
            n = len(events)
            focus.update(str(events[i]["id"]) for i in {n // 3, 2 * n // 3})
        return focus

    def _pick(self, data: st.DataObject, label: str, **where: Any) -> dict[str, Any] | None:
        """An appointment of the last days: mostly one of the focus, sometimes any."""
        events = [e for e in self._near() if all(e.get(k) is not None for k in where)]
        if not events:
            return None
        recent = [e for e in events if str(e["id"]) in self.touched[-2:]]
        focus = [e for e in events if str(e["id"]) in self.focus]
        # The last touched, a focus one or any: changes pile up on the same appointments.
        choices = [st.sampled_from(group) for group in (recent, recent, focus, events) if group]
        event: dict[str, Any] = data.draw(st.one_of(*choices), label=label)
        self.touched.append(str(event["id"]))
        return event

    def _moment(self, day: int, slot: int) -> datetime:
        """A wall-clock start `day` days from today, at 5-minute `slot` of the day."""
        midnight = datetime.combine(self._today(), datetime.min.time())
        return midnight + timedelta(days=day, minutes=5 * slot)

    def _note(self, step: str) -> None:
        """Remember the step for the failure message; the PIMS may have changed."""
        self.steps.append(step)
        self._seen = None

    @initialize(synced=st.booleans())
    def begin(self, synced: bool) -> None:
        """An empty clinic, or one a full sync has just brought up to date."""
        if synced:
            self.service.start_synced()
            self.synced_since_check = True
            self._note("start from a clinic in step with the PIMS")

    # --- the PIMS changes ---------------------------------------------------------------

    @rule(
        data=st.data(),
        day=st.integers(-1, 2),
        slot=st.integers(0, 287),
        minutes=st.sampled_from([15, 30, 60]),
    )
    def add(self, data: st.DataObject, day: int, slot: int, minutes: int) -> None:
        """A new booking (a new id, even for a patient and time that exist)."""
        event = self._pick(data, "patient of", patient_id=True)
        if event is None:
            return
        start = self._moment(day, slot)
        new_id = self.pims.add(start, minutes, int(event["patient_id"]))
        self.known.add(external_id(new_id))
        self.focus.add(new_id)
        self.touched.append(new_id)
        self._note(f"add {new_id} at {start}")

    @rule(data=st.data(), day=st.integers(-2, 3), slot=st.integers(0, 287))
    def move(self, data: st.DataObject, day: int, slot: int) -> None:
        """Rescheduled in place: same id, new time (maybe out of the window)."""
        event = self._pick(data, "moved")
        if event is not None:
            # A visit moved after its final consultation was read: the simulator re-times
            # its consultation (maybe back to a draft); the case keeps what it read.
            self._freeze_if_final(event)
            start = self._moment(day, slot)
            self.pims.move(str(event["id"]), start)
            self._note(f"move {event['id']} to {start}")

    @rule(data=st.data())
    def cancel(self, data: st.DataObject) -> None:
        """Cancelled: stays in the feed as Cancelled."""
        event = self._pick(data, "cancelled")
        if event is not None and event["current_status"] != "Cancelled":
            self.pims.cancel(str(event["id"]))
            self._note(f"cancel {event['id']}")

    @rule(data=st.data())
    def delete(self, data: st.DataObject) -> None:
        """Hard delete: gone from the feed."""
        event = self._pick(data, "deleted")
        if event is not None:
            self.pims.delete(str(event["id"]))
            self.deleted.append(str(event["id"]))
            self._note(f"delete {event['id']}")

    @precondition(lambda self: bool(self.deleted))
    @rule(data=st.data())
    def restore(self, data: st.DataObject) -> None:
        """A deleted appointment back under its own id."""
        appointment_id = data.draw(st.sampled_from(self.deleted), label="restored")
        self.touched.append(appointment_id)
        self.pims.restore(appointment_id)
        self.deleted.remove(appointment_id)
        self._note(f"restore {appointment_id}")

    @rule(data=st.data(), words=NOTE_WORDS, final=st.booleans())
    def write_notes(self, data: st.DataObject, words: str, final: bool) -> None:
        """Late notes (final or a draft) on a consultation of the last days."""
        event = self._pick(data, "notes of", consultation_id=True)
        if event is None:
            return
        cid = str(event["consultation_id"])
        self._freeze_if_final(event)
        self.pims.write_notes(cid, f"<p>{words}</p>", "completed" if final else "in_progress")
        self._note(f"notes {cid} ({'final' if final else 'draft'}): {words!r}")

    @rule(data=st.data(), phone=st.sampled_from(PHONES))
    def change_phone(self, data: st.DataObject, phone: str | None) -> None:
        """The owner's phone changes (every appointment of theirs shows it)."""
        event = self._pick(data, "client of", client_id=True)
        if event is not None:
            self.pims.change_phone(str(event["client_id"]), phone)
            self._note(f"phone of client {event['client_id']} = {phone!r}")

    @precondition(lambda self: self.advanced < MAX_CLOCK_ADVANCE)
    @rule(minutes=st.sampled_from([1, 10, 25, 90, 600]))
    def advance_clock(self, minutes: int) -> None:
        """Time passes: visits start and end, notes appear, sessions expire, days turn."""
        self.pims.advance(minutes)
        self.advanced += timedelta(minutes=minutes)
        self._note(f"clock +{minutes} min → {self.pims.now()}")

    # --- the service ----------------------------------------------------------------------

    @rule(kind=st.sampled_from(["inbound", "cases", "reconcile", "full"]), back=st.booleans())
    def sync(self, kind: str, back: bool) -> None:
        """One phase (or a full run) with a small window."""
        today = self._today()
        first = today - timedelta(days=1) if back else today
        phase = {
            "inbound": Phase("inbound", start_date=first, end_date=today + timedelta(days=1)),
            "cases": Phase("cases", start_date=first, end_date=today),
            "reconcile": Phase("reconcile", lookback_days=1),
            "full": Phase("full", days_ahead=DAYS_AHEAD, lookback_days=LOOKBACK_DAYS),
        }[kind]
        self._near()  # what the phase can see joins the known appointment ids
        self._note(f"sync {kind} {phase.body()}")
        self.service.run(phase)
        self.synced_since_check = True

    @invariant()
    def never_a_duplicate(self) -> None:
        """One case per appointment, one patient row per case, after every step."""
        if not self.synced_since_check:
            return
        self.synced_since_check = False
        problems = duplicate_problems(self.service.snapshot(), self.known)
        assert_none(self._title("duplicates"), problems)

    def teardown(self) -> None:
        """A final full sync, then the cases must equal the PIMS's truth."""
        if sys.exc_info()[0] is not None:
            return  # the example already failed; its own error is the one to report
        self._near()
        self.service.run(Phase("full", days_ahead=DAYS_AHEAD, lookback_days=LOOKBACK_DAYS))
        snapshot = self.service.snapshot()
        assert_none(
            self._title("duplicates after the final sync"), duplicate_problems(snapshot, self.known)
        )
        truth = final_truth(self.pims, self.notes_frozen)
        assert_none(
            self._title("cases differ from the PIMS"), convergence_problems(truth, snapshot)
        )

    def _freeze_if_final(self, event: dict[str, Any]) -> None:
        """Its consultation may change now; if the case read a final version, it keeps it.

        A final consultation is read once (docs/pipeline.md#cases-enrichment): later changes
        never reach the case.
        """
        case = self._case(str(event["id"]))
        document = case.metadata.get("pimsConsultation") if case is not None else None
        if isinstance(document, dict) and document.get("isFinal") is True:
            self.notes_frozen.add(str(document.get("id")))

    def _case(self, appointment_id: str) -> Any:
        key = external_id(appointment_id)
        return next((c for c in self.service.snapshot().cases if c.external_id == key), None)

    def _title(self, what: str) -> str:
        steps = "\n".join(f"    {n}. {s}" for n, s in enumerate(self.steps, 1)) or "    (none)"
        return f"{what}; steps since the reset:\n{steps}\n"
