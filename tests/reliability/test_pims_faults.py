"""The PIMS-side fault matrix (issue 8): each fault of the simulator × each sync phase.

Every cell runs a real sync through the API (real Chromium login, real simulator, real
database) with a fault injected, then checks what the service promises: the answer it
expects (retried and completed, or failed with a clear message), no case lost or
duplicated, no case soft-deleted while its appointment exists, the audit rows closed
with the right status and message. A run the fault made fail is repeated without the
fault and must converge: that also shows nothing was lost. Each cell records its row in
the report (build/reliability.md) before asserting. The cells are a table: one `Fault` row
per fault (how it is made, what each phase must answer, what else to check), one test body.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from pims_sync.adapters.sql.migrate import upgrade_database
from tests.conftest import migrated_database
from tests.e2e.sync_stack import TODAY, StackOptions, running_stack
from tests.reliability.pims_matrix import (
    OK,
    PHASES,
    SQLITE_FULL,
    Call,
    DiskFull,
    Matrix,
    Observation,
    RetryLog,
    Run,
    call_for,
    verdict,
)
from tests.reliability.report import FaultReport

pytestmark = pytest.mark.browser

# The endpoints a phase's PIMS requests go to (a full run: the calendar, then page-data).
ENDPOINTS = {
    "inbound": ("calendar",),
    "cases": ("page-data",),
    "reconcile": ("calendar",),
    "full": ("calendar", "page-data"),
}
# Where a fault that must strike once, mid-run, goes: a full run's is in its cases phase.
MID_RUN = {
    "inbound": "calendar",
    "cases": "page-data",
    "reconcile": "calendar",
    "full": "page-data",
}
PIMS_DOWN_FULL = "207 inbound failed, cases failed, reconciliation skipped"


CHECKS_NAME = "(PIMS cells: how they are checked)"
CHECKS = (
    "each PIMS cell starts from the generated world (`/__sim__/reset`) with the clinic's "
    "cases of yesterday … tomorrow created by a clean inbound run (wiped again for inbound "
    "cells, which create them under the fault); reconcile and full cells also delete one "
    "finalized appointment of yesterday in the PIMS (a full cell also cancels one of "
    "tomorrow), so the run has something to soft-delete and update. Windows: daysAhead 1, "
    "lookbackDays 1; retry policy: 3 attempts, 0.05-0.2 s backoff, Retry-After honoured up "
    "to 1 s. **Lost**: appointments of the window without a case (after the clean recovery "
    "run, when the fault failed the run). **Duplicated**: extra cases per external id and "
    "per `pimsAppointment.id`, extra patient rows per case, cases without exactly one "
    "patient row, patient rows without a case. **Spurious deletes**: cases marked "
    "`metadata.reconciliation.softDeleted` whose appointment is in the PIMS; besides, the "
    "deleted appointment's case must be the only soft-deleted one once a run succeeded, "
    "and none while the faulted run failed. **Nothing written**: every case and patient "
    "row of the clinic is identical before and after the faulted run. **Re-logins**: "
    "successful logins the simulator counted during the run (which starts with a valid "
    "cached session). **Audit**: the top row ends `completed` at 100 % or `failed` with "
    "exactly the answer's message; a full run's phase rows agree with its phase results."
)


# --- stacks --------------------------------------------------------------------------------


def _matrix(url: str, backend: str, report: FaultReport) -> Iterator[Matrix]:
    disk, log = DiskFull(), RetryLog()
    detach = log.attach()
    try:
        for stack in running_stack(url, StackOptions(engine_hook=disk.install)):
            yield Matrix(stack, report, disk, log, backend=backend)
    finally:
        detach()


@pytest.fixture(scope="module")
def sqlite_matrix(
    tmp_path_factory: pytest.TempPathFactory, fault_report: FaultReport
) -> Iterator[Matrix]:
    path: Path = tmp_path_factory.mktemp("pims-faults") / "pims-sync.db"
    upgrade_database(f"sqlite:///{path}")
    yield from _matrix(f"sqlite:///{path}", "sqlite", fault_report)


@pytest.fixture(scope="module")
def postgres_matrix(
    tmp_path_factory: pytest.TempPathFactory, fault_report: FaultReport
) -> Iterator[Matrix]:
    directory = tmp_path_factory.mktemp("pims-faults-pg")
    with migrated_database("postgres", directory, "faults") as url:
        yield from _matrix(url, "postgres", fault_report)


@pytest.fixture
def matrix(request: pytest.FixtureRequest) -> Matrix:
    """The backend's stack (SQLite unless the test is parametrized with `matrix`)."""
    backend = getattr(request, "param", "sqlite")
    found: Matrix = request.getfixturevalue(f"{backend}_matrix")
    return found


# --- one cell ------------------------------------------------------------------------------


@dataclass
class Cell:
    """What one cell saw: the faulted run, and the clean run after it (if it failed)."""

    run: Run
    seen: Observation
    recovery: Run | None
    after: Observation
    audit: str
    top: dict[str, Any]
    children: list[dict[str, Any]]


Evidence = Callable[[Run], str]


def faults(matrix: Matrix, *specs: dict[str, Any]) -> None:
    """Inject simulator faults."""
    for spec in specs:
        matrix.stack.control.post("/faults", spec)


def on(phase: str, **spec: Any) -> list[dict[str, Any]]:
    """The same fault on each endpoint the phase talks to."""
    return [{"endpoint": endpoint, **spec} for endpoint in ENDPOINTS[phase]]


def nothing_written(run: Run) -> str:
    return "; nothing written" if run.unchanged else "; cases changed"


def relogins(run: Run) -> str:
    return f"; {run.logins} re-login{'' if run.logins == 1 else 's'}"


def cell(
    matrix: Matrix,
    fault: str,
    phase: str,
    inject: Callable[[], None],
    expected: str | Callable[[Run], str],
    evidence: Evidence = lambda run: "",
    call: Call | None = None,
) -> Cell:
    """Prepare, inject, run, observe, recover if the run failed; record the row; check it."""
    matrix.report.describe(CHECKS_NAME, CHECKS)
    call = call or call_for(phase)
    matrix.prepare(phase)
    inject()
    run = matrix.run(call)
    seen = matrix.observe(call)
    top, children, audit = matrix.audit(run)
    recovery, after = None, seen
    if run.response.status_code != 200:
        recovery = matrix.recover(call)
        after = matrix.observe(call)
    observed = verdict(run.response) + evidence(run)
    wanted = expected(run) if callable(expected) else expected
    worst = replace(
        after,
        duplicated=max(seen.duplicated, after.duplicated),
        spurious_deletes=max(seen.spurious_deletes, after.spurious_deletes),
        orphans=max(seen.orphans, after.orphans),
    )
    matrix.record(fault, phase, wanted, observed, worst, audit)
    assert observed == wanted, run.response.text
    assert (worst.lost, worst.duplicated, worst.orphans, worst.spurious_deletes) == (0, 0, 0, 0)
    result = Cell(run, seen, recovery, after, audit, top, children)
    assert_audit(result)
    assert_deletions(matrix, result)
    return result


def assert_audit(cell: Cell) -> None:
    """The audit rows say what the answer said: completed, or failed with its message."""
    run, top, children = cell.run, cell.top, cell.children
    body, status = run.body, run.response.status_code
    assert top["status"] != "in_progress"
    assert all(c["status"] != "in_progress" for c in children)
    assert top["completed_at"] is not None
    if status == 200:
        assert (top["status"], top["error_message"], top["progress_percentage"]) == (
            "completed",
            None,
            100,
        )
        assert all(c["status"] == "completed" for c in children)
        return
    assert top["status"] == "failed"
    if status == 207:
        by_type = {c["sync_type"]: c for c in children}
        parts = []
        for name, key in (
            ("inbound", "inboundResult"),
            ("cases", "casesResult"),
            ("reconciliation", "reconciliationResult"),
        ):
            phase = body[key]
            row = by_type[name]
            assert row["status"] == ("completed" if phase["success"] else "failed"), name
            assert row["error_message"] == phase.get("error"), name
            if not phase["success"]:
                parts.append(f"{name}: {phase['error']}")
        assert top["error_message"] == "; ".join(parts)
        return
    assert top["error_message"] == body["error"]
    assert body["error"]
    assert body["code"]
    assert body["success"] is False
    for child in children:  # a full run stopped as a whole: its phase rows closed too
        assert child["status"] in ("failed", "completed")


def assert_deletions(matrix: Matrix, cell: Cell) -> None:
    """Exactly the appointment deleted in the PIMS is soft-deleted, once the run succeeded."""
    removed = matrix.removed
    if removed is None:
        assert cell.after.soft_deleted == set()
        return
    if cell.recovery is None:
        assert cell.seen.soft_deleted == {removed}
        return
    reconciled = cell.run.response.status_code == 207 and cell.run.body["reconciliationResult"].get(
        "success"
    )
    assert cell.seen.soft_deleted == ({removed} if reconciled else set())
    assert cell.after.soft_deleted == {removed}


def assert_enriched(cell: Cell, phase: str) -> None:
    """A cases (or full) run that completed really enriched the window's visits."""
    body = cell.run.body
    stats = body["stats"] if phase == "cases" else body["casesResult"]["stats"]
    assert stats["casesEnriched"] > 30, stats
    assert stats["casesFailed"] == 0, stats


# --- the cells: one row per fault, one test body for every (fault, phase, backend) ---------


@dataclass(frozen=True)
class Fault:
    """One row of the matrix: how the fault is made, and what each phase must do under it."""

    key: str  # the test id's prefix
    name: str  # the report's fault column
    how: str  # the report's note on the fault
    inject: Callable[[Matrix, str], None]
    expected: Callable[[str], str | Evidence]  # by phase: a verdict, or one made from the run
    evidence: Evidence = lambda run: ""
    call: Callable[[str], Call] = call_for
    check: Callable[[Cell, Matrix, str], None] = lambda cell, matrix, phase: None
    postgres: tuple[str, ...] = ()  # the phases that also run on Postgres


def enriched_when_completed(result: Cell, matrix: Matrix, phase: str) -> None:
    """A cases or full run that completed enriched the window's visits."""
    if phase in ("cases", "full"):
        assert_enriched(result, phase)


def spike(endpoint: str) -> dict[str, Any]:
    """The calendar (one request a phase) always late; a third of page-data requests late."""
    return {"endpoint": endpoint, "latencyMs": 700, "rate": 1.0 if endpoint == "calendar" else 0.3}


def latency_check(result: Cell, matrix: Matrix, phase: str) -> None:
    assert result.run.hits > 0
    enriched_when_completed(result, matrix, phase)


LATENCY = Fault(
    key="latency",
    name="latency spikes",
    how="`POST /__sim__/faults {endpoint, latencyMs: 700, rate}` on the phase's data "
    "endpoints: the calendar (one request a phase) always, about a third of the "
    "page-data requests (rate 0.3), answer 0.7 s late. "
    "Expected: the run waits (no timeout, no retry) and completes.",
    inject=lambda matrix, phase: faults(matrix, *(spike(e) for e in ENDPOINTS[phase])),
    expected=lambda phase: lambda run: f"{OK}; {run.hits} slowed, 0 retried",
    evidence=lambda run: f"; {run.hits} slowed, {len(run.retries)} retried",
    check=latency_check,
)


def _bursts(phase: str) -> str:
    n = 2 * len(ENDPOINTS[phase])
    return f"{OK}; {n} × HTTP 500, {n} retried"


BURST = Fault(
    key="500-burst",
    name="500 burst",
    how="`{status: 500, count: 2}` on each data endpoint of the phase: two answers are 500, "
    "fewer than the 3 attempts of the retry policy. Expected: retried with backoff, "
    "completed; the table shows how many 500s were answered and retried.",
    inject=lambda matrix, phase: faults(matrix, *on(phase, status=500, count=2)),
    expected=_bursts,
    evidence=lambda run: (
        f"; {run.statuses(500, 'calendar', 'page-data')} × HTTP 500, "
        f"{len(run.retried(500))} retried"
    ),
    check=enriched_when_completed,
    postgres=("full",),
)


def _three_attempts(result: Cell, matrix: Matrix, phase: str) -> None:
    body = result.run.body
    keys = ("inboundResult", "casesResult") if phase == "full" else ()
    errors = [body[k]["error"] for k in keys] if keys else [body.get("error")]
    assert all("after 3 attempts (last: HTTP 500)" in str(e) for e in errors), errors


PERSISTENT_500 = Fault(
    key="500-persistent",
    name="500 persistent",
    how="`{status: 500}` with no count on the phase's data endpoints (a full run: calendar "
    "and page-data). Expected: each request tried 3 times, then the run fails with "
    "`pims_unavailable` (502; a full run 207 with reconciliation skipped), nothing "
    "written, nothing soft-deleted; a clean run afterwards converges.",
    inject=lambda matrix, phase: faults(matrix, *on(phase, status=500)),
    expected=lambda phase: (
        (PIMS_DOWN_FULL if phase == "full" else "502 pims_unavailable") + "; nothing written"
    ),
    evidence=nothing_written,
    check=_three_attempts,
)


def _rate_limited(matrix: Matrix, phase: str) -> None:
    count = 1 if phase == "full" else 2  # a full run: one on the calendar, one on page-data
    faults(matrix, *on(phase, status=429, retryAfter=1, count=count))


def _waited(run: Run) -> str:
    delays = run.retried(429)
    honoured = bool(delays) and min(delays) >= 1.0
    return (
        f"; {run.statuses(429, 'calendar', 'page-data')} × HTTP 429, {len(delays)} "
        f"retried after {'≥' if honoured else '<'} 1 s"
    )


def _waited_a_second(result: Cell, matrix: Matrix, phase: str) -> None:
    assert result.run.seconds >= 1.0  # a lower bound: the wait really happened
    enriched_when_completed(result, matrix, phase)


RATE_LIMIT = Fault(
    key="429",
    name="429 Retry-After",
    how="`{status: 429, retryAfter: 1, count: 2}` on the phase's data endpoint (a full run: "
    "one on the calendar, one on page-data). Expected: the provider waits the "
    "Retry-After second (the test policy's backoff alone is 0.05-0.2 s, so a wait of "
    "≥ 1 s is the header honoured), repeats the request and completes.",
    inject=_rate_limited,
    expected=lambda phase: f"{OK}; 2 × HTTP 429, 2 retried after ≥ 1 s",
    evidence=_waited,
    check=_waited_a_second,
)

# Each of the simulator's three ways to answer a request without a session, in turn.
EXPIRED_ANSWER = {
    "inbound": "redirect",
    "cases": "401",
    "reconcile": "login-page",
    "full": "redirect",
}


def _expiry_call(phase: str) -> Call:
    """Inbound and reconcile make one calendar request per 31 days: ask for two chunks."""
    if phase == "inbound":
        last = TODAY + timedelta(days=30)
        return Call(
            "inbound",
            {"startDate": str(TODAY - timedelta(days=1)), "endDate": str(last)},
            last=last,
        )
    if phase == "reconcile":
        return Call("reconcile", {"lookbackDays": 31})
    return call_for(phase)


def _expire_mid_phase(matrix: Matrix, phase: str) -> None:
    after = 5 if MID_RUN[phase] == "page-data" else 1
    spec = {"endpoint": MID_RUN[phase], "expireSession": True, "after": after, "count": 1}
    matrix.stack.control.post("/settings", {"sessionExpiredResponse": EXPIRED_ANSWER[phase]})
    faults(matrix, spec)


def _struck_once(result: Cell, matrix: Matrix, phase: str) -> None:
    assert result.run.hits == 1
    enriched_when_completed(result, matrix, phase)


EXPIRY = Fault(
    key="session-expiry",
    name="session expiry mid-phase",
    how="`{endpoint, expireSession: true, after: N, count: 1}` (a simulator fault added for "
    "this matrix): after N requests of the phase, every session ends and that request "
    "gets the login redirect, as a server-side expiry does. Inbound and reconcile ask "
    "for 32 days (two calendar chunks, N = 1); cases and full expire after 5 page-data "
    "requests. The expired request is answered as `sessionExpiredResponse` says: a "
    "302 to /login (inbound, full), a 401 (cases), the login page's HTML with status "
    "200 (reconcile). Expected: one re-login, the request repeated, completed.",
    inject=_expire_mid_phase,
    expected=lambda phase: f"{OK}; 1 re-login",
    evidence=relogins,
    call=_expiry_call,
    check=_struck_once,
    postgres=("cases",),
)

HTML_ONCE = Fault(
    key="html-once",
    name="HTML instead of JSON (once)",
    how="`{html: true, count: 1}` on the phase's first data endpoint (a full run: page-data, "
    "mid-run): one answer is an HTML page with status 200. Expected "
    "([provider](provider.md#session-expiry-and-reuse)): taken as "
    "an expired session, one re-login, the request repeated, completed.",
    inject=lambda matrix, phase: faults(
        matrix, {"endpoint": MID_RUN[phase], "html": True, "count": 1}
    ),
    expected=lambda phase: f"{OK}; 1 re-login",
    evidence=relogins,
    check=enriched_when_completed,
)


def _names_html(result: Cell, matrix: Matrix, phase: str) -> None:
    message = result.top["error_message"]
    assert "HTML" in message, message


HTML_ALWAYS = Fault(
    key="html-always",
    name="HTML instead of JSON (persistent)",
    how="`{html: true}` with no count on the phase's data endpoints. Expected: one re-login "
    "(HTML may mean an expired session), then a clear failure instead of logging in "
    "again and again: 502 `pims_request_rejected` naming the HTML answer (a full run: "
    "207, reconciliation skipped), nothing written, nothing soft-deleted.",
    inject=lambda matrix, phase: faults(matrix, *on(phase, html=True)),
    expected=lambda phase: (
        (PIMS_DOWN_FULL if phase == "full" else "502 pims_request_rejected")
        + "; 1 re-login; nothing written"
    ),
    evidence=lambda run: relogins(run) + nothing_written(run),
    check=_names_html,
)


def _login_page_changed(matrix: Matrix, phase: str) -> None:
    matrix.stack.control.post("/settings", {"loginVariant": "changed"})
    faults(matrix, {"endpoint": ENDPOINTS[phase][0], "expireSession": True, "count": 1})


def _names_the_login_page(result: Cell, matrix: Matrix, phase: str) -> None:
    assert "login page" in result.top["error_message"]


LOGIN_CHANGED = Fault(
    key="login-changed",
    name="login page change",
    how="`POST /__sim__/settings {loginVariant: changed}` (redesigned form, the documented "
    "selectors find nothing), and the session expired at the phase's first request "
    "(`expireSession`), so the run must log in again mid-phase. Expected: 502 "
    "`pims_login_page_changed` with a message naming the login page, for a full run "
    "too (no phase can go on without a session), nothing written or deleted.",
    inject=_login_page_changed,
    expected=lambda phase: "502 pims_login_page_changed; nothing written",
    evidence=nothing_written,
    check=_names_the_login_page,
)


def _password_changed(matrix: Matrix, phase: str) -> None:
    matrix.stack.control.post("/credentials", {"password": "rotated-in-idexx-0042"})
    faults(matrix, {"endpoint": ENDPOINTS[phase][0], "expireSession": True, "count": 1})


def _says_what_the_pims_said(result: Cell, matrix: Matrix, phase: str) -> None:
    assert result.top["error_message"] == "PIMS login failed: Invalid username or password"


WRONG_PASSWORD = Fault(
    key="wrong-password",
    name="wrong password",
    how="`POST /__sim__/credentials {password: …}` (the password was changed in IDEXX) and "
    "the session expired at the phase's first request, so the run must log in again. "
    "Expected: 502 `pims_auth_failed` carrying the PIMS's own message (\"Invalid "
    'username or password"), no retry of the login, nothing written or deleted.',
    inject=_password_changed,
    expected=lambda phase: "502 pims_auth_failed; nothing written; 1 login refused",
    evidence=lambda run: nothing_written(run) + f"; {run.stats['loginFailures']} login refused",
    check=_says_what_the_pims_said,
)


def _writes_let_through(phase: str) -> int:
    """Inbound and cases write a batch's cases, then its patient rows, in one transaction:
    the first statement goes through, so nothing stays written only if it is rolled back.
    Reconciliation writes cases alone: its first statement fails."""
    return 0 if phase == "reconcile" else 1


def _storage_failed(result: Cell, matrix: Matrix, phase: str) -> None:
    assert matrix.disk.failed_statements > 0
    assert matrix.disk.passed_statements == _writes_let_through(phase)
    message = result.top["error_message"]
    assert "disk" in message or "space" in message, message


DISK_FULL = Fault(
    key="disk-full",
    name="disk full (injected)",
    how="A `before_cursor_execute` hook on the API server's own engine makes every INSERT/"
    "UPDATE of `cases` and `patients` raise the driver's error for a full disk "
    f"(SQLite: `{SQLITE_FULL}`; Postgres: psycopg's DiskFull, SQLSTATE 53100), so it "
    "rises where a real one would. For inbound, cases and full the first write of the "
    "batch (its cases upsert) still goes through and the second (its patient rows, same "
    "transaction) fails, so nothing stays written only if the batch is rolled back; "
    "reconciliation's first write fails. Expected: the run fails with a clear storage "
    "message (a full run: 207, every phase that writes failed), the audit row says "
    "so, the batch is rolled back (nothing partial), and a run without the fault "
    "converges.",
    inject=lambda matrix, phase: matrix.disk.arm(after=_writes_let_through(phase)),
    expected=lambda phase: (
        (
            "207 inbound failed, cases failed, reconciliation failed"
            if phase == "full"
            else "503 storage_unavailable"
        )
        + "; nothing written"
    ),
    evidence=nothing_written,
    check=_storage_failed,
    postgres=("inbound", "full"),
)

FAULTS = (
    LATENCY,
    BURST,
    PERSISTENT_500,
    RATE_LIMIT,
    EXPIRY,
    HTML_ONCE,
    HTML_ALWAYS,
    LOGIN_CHANGED,
    WRONG_PASSWORD,
    DISK_FULL,
)


def cells() -> list[Any]:
    """Every fault in every phase on SQLite, and the rows' chosen phases on Postgres too."""
    found = [
        pytest.param(fault, phase, "sqlite", id=f"{fault.key}-{phase}")
        for fault in FAULTS
        for phase in PHASES
    ]
    return found + [
        pytest.param(
            fault, phase, "postgres", id=f"{fault.key}-{phase}-postgres", marks=pytest.mark.postgres
        )
        for fault in FAULTS
        for phase in fault.postgres
    ]


@pytest.mark.parametrize(("fault", "phase", "matrix"), cells(), indirect=["matrix"])
def test_pims_fault(matrix: Matrix, fault_report: FaultReport, fault: Fault, phase: str) -> None:
    fault_report.describe(fault.name, fault.how)
    result = cell(
        matrix,
        fault.name,
        phase,
        lambda: fault.inject(matrix, phase),
        expected=fault.expected(phase),
        evidence=fault.evidence,
        call=fault.call(phase),
    )
    fault.check(result, matrix, phase)


def test_the_matrix_keeps_every_cell() -> None:
    """40 cells on SQLite (10 faults × 4 phases) and 4 on Postgres, each id once."""
    ids = [param.id for param in cells()]

    assert len(ids) == len(set(ids)) == 44
    assert [f.key for f in FAULTS if f.postgres] == ["500-burst", "session-expiry", "disk-full"]
