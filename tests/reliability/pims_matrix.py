"""Machinery of the PIMS-side fault matrix: prepare a cell, run it under a fault, observe, heal.

A cell starts from a known state (the generated world, the clinic's cases wiped and, for
every phase but inbound, re-created by a clean inbound run), injects its fault, runs one
phase through the real API, clears the fault and then looks at what is left: the HTTP
answer, the audit rows, and the cases compared with the simulator's truth.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import httpx
from sqlalchemy import delete, event, select
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql import tables
from pims_sync.domain.cases import external_id
from tests.e2e.sync_stack import TODAY, Stack
from tests.reliability.report import FaultReport, FaultRow

PHASES = ("inbound", "cases", "reconcile", "full")
FIRST, LAST = TODAY - timedelta(days=1), TODAY + timedelta(days=1)
OK = "200 completed"


# --- injected database failures ------------------------------------------------------------

# A write to cases or patients, alone or as a CTE of a larger statement (on Postgres the
# outbox's append carries the batch's patient rows: `WITH alongside AS (INSERT INTO …`).
_CASE_WRITE = re.compile(
    r"(?:^|\bAS\s*\()\s*(INSERT\s+INTO|UPDATE|DELETE\s+FROM)\s+\"?(cases|patients)\b", re.I
)
# What the drivers say when the disk is full (SQLITE_FULL; Postgres SQLSTATE 53100).
SQLITE_FULL = "database or disk is full"
POSTGRES_FULL = 'could not extend file "base/16384/16400": No space left on device'


class DiskFull:
    """While armed, every write to `cases` or `patients` fails as a full disk makes it fail.

    Installed on the API server's own engine (a `before_cursor_execute` hook), so the error
    rises from the driver call exactly where a real one would, as the driver's own
    OperationalError (psycopg's DiskFull on Postgres), wrapped by SQLAlchemy as usual.
    """

    def __init__(self) -> None:
        self._armed = threading.Event()
        self._let_through = 0
        self.failed_statements = 0
        self.passed_statements = 0

    def install(self, engine: AsyncEngine) -> None:
        """Hook the engine (called in the server's thread before it serves)."""
        error = _disk_full_error(engine)

        def refuse(*args: Any) -> None:
            statement = str(args[2])
            if not self._armed.is_set() or not _CASE_WRITE.search(statement):
                return
            if self._let_through > 0:
                self._let_through -= 1
                self.passed_statements += 1
                return
            self.failed_statements += 1
            raise error

        event.listen(engine.sync_engine, "before_cursor_execute", refuse)

    def arm(self, after: int = 0) -> None:
        """Fail every write to cases/patients from now on, except the next `after` ones."""
        self.failed_statements = self.passed_statements = 0
        self._let_through = after
        self._armed.set()

    def disarm(self) -> None:
        self._armed.clear()


def _disk_full_error(engine: AsyncEngine) -> Exception:
    if engine.dialect.name == "postgresql":
        import psycopg.errors

        return psycopg.errors.DiskFull(POSTGRES_FULL)
    dbapi: Any = engine.dialect.loaded_dbapi
    return dbapi.OperationalError(SQLITE_FULL)  # type: ignore[no-any-return]


# --- what the service logs about retries ----------------------------------------------------


class RetryLog(logging.Handler):
    """Collects the provider's "pims request retried" lines: endpoint, status, delay."""

    LOGGER = "pims_sync.adapters.idexx.api"

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.retries: list[tuple[str, object, float]] = []
        self._lock_list = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage() == "pims request retried":
            item = (
                str(getattr(record, "endpoint", "")),
                getattr(record, "status", None),
                float(getattr(record, "delay_s", 0.0)),
            )
            with self._lock_list:
                self.retries.append(item)

    def clear(self) -> None:
        with self._lock_list:
            self.retries.clear()

    def attach(self) -> Callable[[], None]:
        """Listen (at WARNING even if another test turned the level up); returns the undo."""
        logger = logging.getLogger(self.LOGGER)
        level = logger.level
        logger.setLevel(logging.WARNING)
        logger.addHandler(self)

        def detach() -> None:
            logger.removeHandler(self)
            logger.setLevel(level)

        return detach


# --- a cell --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A sync request of one phase, and the clinic days whose truth it is compared with."""

    kind: str
    body: dict[str, Any]
    first: date = FIRST
    last: date = LAST


def call_for(phase: str) -> Call:
    """The cell's request: small windows (yesterday … tomorrow)."""
    if phase == "inbound":
        return Call("inbound", {"startDate": str(FIRST), "endDate": str(LAST)})
    if phase == "cases":
        return Call("cases", {"startDate": str(FIRST), "endDate": str(TODAY)})
    if phase == "reconcile":
        return Call("reconcile", {"lookbackDays": 1})
    return Call("full", {"daysAhead": 1, "lookbackDays": 1})


@dataclass
class Run:
    """One sync under a fault, and what the simulator and the service said about it."""

    response: httpx.Response
    seconds: float
    stats: dict[str, Any]
    faults: list[dict[str, Any]]
    retries: list[tuple[str, object, float]]
    unchanged: bool  # the clinic's cases are exactly as before the run

    @property
    def body(self) -> dict[str, Any]:
        result: dict[str, Any] = self.response.json()
        return result

    @property
    def sync_id(self) -> str:
        return str(self.body["syncId"])

    def statuses(self, status: int, *endpoints: str) -> int:
        """How many answers of these endpoints had this HTTP status."""
        found = self.stats["endpoints"]
        return sum(found.get(e, {}).get("statuses", {}).get(str(status), 0) for e in endpoints)

    @property
    def logins(self) -> int:
        """Successful logins during the run (re-logins: the run starts with a cached session)."""
        return int(self.stats["logins"])

    @property
    def hits(self) -> int:
        """Requests the injected faults struck."""
        return sum(int(f["hits"]) for f in self.faults)

    def retried(self, status: int) -> list[float]:
        """Delays the provider waited before repeating requests answered with `status`."""
        return [delay for _, s, delay in self.retries if s == status]


@dataclass
class Observation:
    """The clinic's cases after a run, against the simulator's truth."""

    lost: int
    duplicated: int
    spurious_deletes: int
    soft_deleted: set[str]
    orphans: int  # cases without exactly one patient row, or patient rows without a case


@dataclass
class Matrix:
    """Runs cells on one stack and records their rows."""

    stack: Stack
    report: FaultReport
    disk: DiskFull
    log: RetryLog
    backend: str = "sqlite"
    removed: str | None = field(default=None)  # the appointment the cell deleted from the PIMS

    # -- preparing ------------------------------------------------------------------------

    def prepare(self, phase: str) -> None:
        """Generated world; cases of the window created (wiped again for inbound cells).

        The seeding run also brings the session cache up to date, so the cell's run starts
        with a valid session and any login it makes is a re-login caused by the fault.
        For reconcile and full one finalized appointment of yesterday is deleted in the
        PIMS: the run must soft-delete exactly that case, and no other.
        """
        control = self.stack.control
        self.heal()
        control.reset()
        self.wipe()
        seeded = self.stack.sync("inbound", startDate=str(FIRST), endDate=str(LAST))
        assert seeded.status_code == 200, seeded.text
        assert seeded.json()["stats"]["casesCreated"] > 80  # the window is really populated
        self.removed = None
        if phase == "inbound":
            self.wipe()
        if phase in ("reconcile", "full"):
            yesterday = control.appointments(FIRST, FIRST)
            victim = [e for e in yesterday if e["current_status"] == "Finalized"][3]
            control.post(f"/appointments/{victim['id']}/delete")
            self.removed = external_id(str(victim["id"]))
        if phase == "full":  # and one change for its inbound phase to write
            tomorrow = control.appointments(LAST, LAST)
            control.post(f"/appointments/{tomorrow[2]['id']}/cancel", {"reason": "matrix"})

    def wipe(self) -> None:
        """Forget the clinic's cases (patients first: they point at cases)."""
        clinic = self.stack.clinic_id
        with self.stack.db.engine.begin() as conn:
            conn.execute(delete(tables.patients).where(tables.patients.c.clinic_id == clinic))
            conn.execute(delete(tables.cases).where(tables.cases.c.clinic_id == clinic))

    def heal(self) -> None:
        """Remove every fault the cells inject (the world's changes stay)."""
        control, config = self.stack.control, self.stack.sim.config
        control.post("/faults", {"clear": True})
        control.post(
            "/settings", {"loginVariant": "standard", "sessionExpiredResponse": "redirect"}
        )
        control.post("/credentials", {"username": config.username, "password": config.password})
        self.disk.disarm()

    # -- running --------------------------------------------------------------------------

    def run(self, call: Call) -> Run:
        """Run the request under whatever fault is injected, then heal."""
        control = self.stack.control
        control.post("/stats/reset")
        self.log.clear()
        before = self.snapshot()
        started = time.monotonic()
        try:
            response = self.stack.sync(call.kind, **call.body)
        finally:
            seconds = time.monotonic() - started
            faults = control.http.get("/faults").json()["faults"]
            stats = control.stats()
            self.heal()
        return Run(
            response=response,
            seconds=seconds,
            stats=stats,
            faults=faults,
            retries=list(self.log.retries),
            unchanged=self.snapshot() == before,
        )

    def recover(self, call: Call) -> Run:
        """The same request without the fault: it must complete."""
        run = self.run(call)
        assert run.response.status_code == 200, run.response.text
        return run

    # -- observing ------------------------------------------------------------------------

    def snapshot(self) -> dict[str, str]:
        """Every case and patient row of the clinic, as comparable text."""
        clinic = self.stack.clinic_id
        with self.stack.db.engine.connect() as conn:
            cases = conn.execute(
                select(tables.cases).where(tables.cases.c.clinic_id == clinic)
            ).mappings()
            found = {str(r["external_id"]): json.dumps(dict(r), default=str) for r in cases}
            patients = conn.execute(
                select(tables.patients).where(tables.patients.c.clinic_id == clinic)
            ).mappings()
            found.update(
                {f"patient:{r['case_id']}": json.dumps(dict(r), default=str) for r in patients}
            )
        return found

    def observe(self, call: Call) -> Observation:
        """Lost, duplicated and wrongly soft-deleted cases, against the simulator's truth."""
        truth = {
            external_id(str(e["id"]))
            for e in self.stack.control.appointments(call.first, call.last)
        }
        assert len(truth) > 80  # never compare with an empty world
        clinic = self.stack.clinic_id
        with self.stack.db.engine.connect() as conn:
            cases = list(
                conn.execute(
                    select(
                        tables.cases.c.id, tables.cases.c.external_id, tables.cases.c.metadata
                    ).where(tables.cases.c.clinic_id == clinic)
                )
            )
            patients = Counter(
                row.case_id
                for row in conn.execute(
                    select(tables.patients.c.case_id).where(tables.patients.c.clinic_id == clinic)
                )
            )
        per_external = Counter(row.external_id for row in cases)
        per_appointment = Counter(
            str(row.metadata.get("pimsAppointment", {}).get("id")) for row in cases
        )
        duplicated = sum(n - 1 for n in per_external.values())
        duplicated += sum(n - 1 for n in per_appointment.values())
        duplicated += sum(n - 1 for n in patients.values() if n > 1)
        case_ids = {row.id for row in cases}
        orphans = sum(1 for cid in case_ids if patients[cid] != 1)
        orphans += sum(1 for cid in patients if cid not in case_ids)
        soft = {
            row.external_id
            for row in cases
            if row.metadata.get("reconciliation", {}).get("softDeleted") is True
        }
        return Observation(
            lost=len(truth - set(per_external)),
            duplicated=duplicated,
            spurious_deletes=len(soft & truth),
            soft_deleted=soft,
            orphans=orphans,
        )

    def audit(self, run: Run) -> tuple[dict[str, Any], list[dict[str, Any]], str]:
        """The run's audit row, its children, and a one-line summary for the report."""
        top, children = self.stack.db.audits(run.sync_id)
        text = str(top["status"])
        if top["error_message"]:
            text += f": {top['error_message']}"
        if children:
            order = {"inbound": 0, "cases": 1, "reconciliation": 2}
            kids = sorted(children, key=lambda c: order.get(str(c["sync_type"]), 9))
            text += " (" + ", ".join(_child(c) for c in kids) + ")"
        return top, children, text

    def record(
        self, fault: str, phase: str, expected: str, observed: str, seen: Observation, audit: str
    ) -> FaultRow:
        """Write the cell's row (before the test asserts anything)."""
        return self.report.record(
            FaultRow(
                fault=fault,
                phase=phase,
                expected=expected,
                observed=observed,
                lost=seen.lost,
                duplicated=seen.duplicated + seen.orphans,
                spurious_deletes=seen.spurious_deletes,
                audit=audit,
                backend=self.backend,
            )
        )


def _child(row: dict[str, Any]) -> str:
    """`cases completed`, `inbound failed`, or `reconciliation failed (skipped)`."""
    skipped = str(row["error_message"] or "").startswith("skipped")
    return f"{row['sync_type']} {row['status']}" + (" (skipped)" if skipped else "")


def verdict(response: httpx.Response) -> str:
    """`200 completed`, `502 <code>`, or a full run's `207 inbound failed, …` by phase."""
    status = response.status_code
    body = response.json()
    if status == 200:
        failed = _items_failed(body)
        return OK if not failed else f"{OK} with {failed} items failed"
    if status == 207:
        parts = []
        for name, key in (
            ("inbound", "inboundResult"),
            ("cases", "casesResult"),
            ("reconciliation", "reconciliationResult"),
        ):
            phase = body[key]
            state = "ok" if phase["success"] else "skipped" if phase.get("skipped") else "failed"
            parts.append(f"{name} {state}")
        return "207 " + ", ".join(parts)
    return f"{status} {body.get('code')}"


def _items_failed(body: dict[str, Any]) -> int:
    """Per-item failures of a successful run (none may hide behind a 200)."""
    phases = [body] + [
        body[k] for k in ("inboundResult", "casesResult", "reconciliationResult") if k in body
    ]
    return sum(int(p.get("stats", {}).get(k, 0)) for p in phases for k in ("casesFailed",))
