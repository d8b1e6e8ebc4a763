"""The PIMS-side fault matrix (issue 8): each fault of the simulator × each sync phase.

Every cell runs a real sync through the API (real Chromium login, real simulator, real
database) with a fault injected, then checks what the service promises: the answer it
expects (retried and completed, or failed with a clear message), no case lost or
duplicated, no case soft-deleted while its appointment exists, the audit rows closed
with the right status and message. A run the fault made fail is repeated without the
fault and must converge: that also shows nothing was lost. Each cell records its row in
docs/reliability.md before asserting.
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


def grid(*postgres: str) -> list[Any]:
    """Every phase on SQLite, and these phases on Postgres too (marked `postgres`)."""
    cells = [pytest.param(phase, "sqlite", id=phase) for phase in PHASES]
    return cells + [
        pytest.param(phase, "postgres", id=f"{phase}-postgres", marks=pytest.mark.postgres)
        for phase in postgres
    ]


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


# --- the cells -----------------------------------------------------------------------------


LATENCY = "latency spikes"


def spike(endpoint: str) -> dict[str, Any]:
    """The calendar (one request a phase) always late; a third of page-data requests late."""
    return {"endpoint": endpoint, "latencyMs": 700, "rate": 1.0 if endpoint == "calendar" else 0.3}


@pytest.mark.parametrize("phase", PHASES)
def test_latency_spikes_are_waited_for(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        LATENCY,
        "`POST /__sim__/faults {endpoint, latencyMs: 700, rate}` on the phase's data "
        "endpoints: the calendar (one request a phase) always, about a third of the "
        "page-data requests (rate 0.3), answer 0.7 s late. "
        "Expected: the run waits (no timeout, no retry) and completes.",
    )
    result = cell(
        matrix,
        LATENCY,
        phase,
        lambda: faults(matrix, *(spike(endpoint) for endpoint in ENDPOINTS[phase])),
        expected=lambda run: f"{OK}; {run.hits} slowed, 0 retried",
        evidence=lambda run: f"; {run.hits} slowed, {len(run.retries)} retried",
    )
    assert result.run.hits > 0
    if phase in ("cases", "full"):
        assert_enriched(result, phase)


BURST = "500 burst"


@pytest.mark.parametrize(("phase", "matrix"), grid("full"), indirect=["matrix"])
def test_500_bursts_are_retried(matrix: Matrix, fault_report: FaultReport, phase: str) -> None:
    fault_report.describe(
        BURST,
        "`{status: 500, count: 2}` on each data endpoint of the phase: two answers are 500, "
        "fewer than the 3 attempts of the retry policy. Expected: retried with backoff, "
        "completed; the table shows how many 500s were answered and retried.",
    )
    n = 2 * len(ENDPOINTS[phase])
    result = cell(
        matrix,
        BURST,
        phase,
        lambda: faults(matrix, *on(phase, status=500, count=2)),
        expected=f"{OK}; {n} × HTTP 500, {n} retried",
        evidence=lambda run: (
            f"; {run.statuses(500, 'calendar', 'page-data')} × HTTP 500, "
            f"{len(run.retried(500))} retried"
        ),
    )
    if phase in ("cases", "full"):
        assert_enriched(result, phase)


PERSISTENT_500 = "500 persistent"


@pytest.mark.parametrize("phase", PHASES)
def test_persistent_500_fails_clearly_and_deletes_nothing(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        PERSISTENT_500,
        "`{status: 500}` with no count on the phase's data endpoints (a full run: calendar "
        "and page-data). Expected: each request tried 3 times, then the run fails with "
        "`pims_unavailable` (502; a full run 207 with reconciliation skipped), nothing "
        "written, nothing soft-deleted; a clean run afterwards converges.",
    )
    expected = PIMS_DOWN_FULL if phase == "full" else "502 pims_unavailable"
    result = cell(
        matrix,
        PERSISTENT_500,
        phase,
        lambda: faults(matrix, *on(phase, status=500)),
        expected=expected + "; nothing written",
        evidence=nothing_written,
    )
    errors = (
        [result.run.body.get("error")]
        if phase != "full"
        else [result.run.body[k]["error"] for k in ("inboundResult", "casesResult")]
    )
    assert all("after 3 attempts (last: HTTP 500)" in str(e) for e in errors), errors


RATE_LIMIT = "429 Retry-After"


@pytest.mark.parametrize("phase", PHASES)
def test_429_retry_after_is_honoured(matrix: Matrix, fault_report: FaultReport, phase: str) -> None:
    fault_report.describe(
        RATE_LIMIT,
        "`{status: 429, retryAfter: 1, count: 2}` on the phase's data endpoint (a full run: "
        "one on the calendar, one on page-data). Expected: the provider waits the "
        "Retry-After second (the test policy's backoff alone is 0.05-0.2 s, so a wait of "
        "≥ 1 s is the header honoured), repeats the request and completes.",
    )
    specs = (
        on(phase, status=429, retryAfter=1, count=1)
        if phase == "full"
        else on(phase, status=429, retryAfter=1, count=2)
    )

    def waited(run: Run) -> str:
        delays = run.retried(429)
        honoured = bool(delays) and min(delays) >= 1.0
        return (
            f"; {run.statuses(429, 'calendar', 'page-data')} × HTTP 429, {len(delays)} "
            f"retried after {'≥' if honoured else '<'} 1 s"
        )

    result = cell(
        matrix,
        RATE_LIMIT,
        phase,
        lambda: faults(matrix, *specs),
        expected=f"{OK}; 2 × HTTP 429, 2 retried after ≥ 1 s",
        evidence=waited,
    )
    assert result.run.seconds >= 1.0  # a lower bound: the wait really happened
    if phase in ("cases", "full"):
        assert_enriched(result, phase)


EXPIRY = "session expiry mid-phase"
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


@pytest.mark.parametrize(("phase", "matrix"), grid("cases"), indirect=["matrix"])
def test_session_expiring_mid_phase_is_renewed_once(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        EXPIRY,
        "`{endpoint, expireSession: true, after: N, count: 1}` (a simulator fault added for "
        "this matrix): after N requests of the phase, every session ends and that request "
        "gets the login redirect, as a server-side expiry does. Inbound and reconcile ask "
        "for 32 days (two calendar chunks, N = 1); cases and full expire after 5 page-data "
        "requests. The expired request is answered as `sessionExpiredResponse` says: a "
        "302 to /login (inbound, full), a 401 (cases), the login page's HTML with status "
        "200 (reconcile). Expected: one re-login, the request repeated, completed.",
    )
    after = 5 if MID_RUN[phase] == "page-data" else 1
    spec = {"endpoint": MID_RUN[phase], "expireSession": True, "after": after, "count": 1}

    def inject() -> None:
        answer = {"sessionExpiredResponse": EXPIRED_ANSWER[phase]}
        matrix.stack.control.post("/settings", answer)
        faults(matrix, spec)

    result = cell(
        matrix,
        EXPIRY,
        phase,
        inject,
        expected=f"{OK}; 1 re-login",
        evidence=relogins,
        call=_expiry_call(phase),
    )
    assert result.run.hits == 1
    if phase in ("cases", "full"):
        assert_enriched(result, phase)


HTML_ONCE = "HTML instead of JSON (once)"


@pytest.mark.parametrize("phase", PHASES)
def test_html_once_is_an_expired_session_renewed(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        HTML_ONCE,
        "`{html: true, count: 1}` on the phase's first data endpoint (a full run: page-data, "
        "mid-run): one answer is an HTML page with status 200. Expected "
        "([provider](provider.md#session-expiry-and-reuse)): taken as "
        "an expired session, one re-login, the request repeated, completed.",
    )
    spec = {"endpoint": MID_RUN[phase], "html": True, "count": 1}
    result = cell(
        matrix,
        HTML_ONCE,
        phase,
        lambda: faults(matrix, spec),
        expected=f"{OK}; 1 re-login",
        evidence=relogins,
    )
    if phase in ("cases", "full"):
        assert_enriched(result, phase)


HTML_ALWAYS = "HTML instead of JSON (persistent)"


@pytest.mark.parametrize("phase", PHASES)
def test_html_persisting_after_a_relogin_fails_clearly(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        HTML_ALWAYS,
        "`{html: true}` with no count on the phase's data endpoints. Expected: one re-login "
        "(HTML may mean an expired session), then a clear failure instead of logging in "
        "again and again: 502 `pims_request_rejected` naming the HTML answer (a full run: "
        "207, reconciliation skipped), nothing written, nothing soft-deleted.",
    )
    expected = PIMS_DOWN_FULL if phase == "full" else "502 pims_request_rejected"
    result = cell(
        matrix,
        HTML_ALWAYS,
        phase,
        lambda: faults(matrix, *on(phase, html=True)),
        expected=f"{expected}; 1 re-login; nothing written",
        evidence=lambda run: relogins(run) + nothing_written(run),
    )
    message = result.top["error_message"]
    assert "HTML" in message, message


LOGIN_CHANGED = "login page change"


@pytest.mark.parametrize("phase", PHASES)
def test_changed_login_page_fails_naming_it(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        LOGIN_CHANGED,
        "`POST /__sim__/settings {loginVariant: changed}` (redesigned form, the documented "
        "selectors find nothing), and the session expired at the phase's first request "
        "(`expireSession`), so the run must log in again mid-phase. Expected: 502 "
        "`pims_login_page_changed` with a message naming the login page, for a full run "
        "too (no phase can go on without a session), nothing written or deleted.",
    )

    def inject() -> None:
        matrix.stack.control.post("/settings", {"loginVariant": "changed"})
        faults(matrix, {"endpoint": ENDPOINTS[phase][0], "expireSession": True, "count": 1})

    result = cell(
        matrix,
        LOGIN_CHANGED,
        phase,
        inject,
        expected="502 pims_login_page_changed; nothing written",
        evidence=nothing_written,
    )
    assert "login page" in result.top["error_message"]


WRONG_PASSWORD = "wrong password"


@pytest.mark.parametrize("phase", PHASES)
def test_wrong_password_fails_with_the_pims_message(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        WRONG_PASSWORD,
        "`POST /__sim__/credentials {password: …}` (the password was changed in IDEXX) and "
        "the session expired at the phase's first request, so the run must log in again. "
        "Expected: 502 `pims_auth_failed` carrying the PIMS's own message (\"Invalid "
        'username or password"), no retry of the login, nothing written or deleted.',
    )

    def inject() -> None:
        matrix.stack.control.post("/credentials", {"password": "rotated-in-idexx-0042"})
        faults(matrix, {"endpoint": ENDPOINTS[phase][0], "expireSession": True, "count": 1})

    result = cell(
        matrix,
        WRONG_PASSWORD,
        phase,
        inject,
        expected="502 pims_auth_failed; nothing written; 1 login refused",
        evidence=lambda run: nothing_written(run) + f"; {run.stats['loginFailures']} login refused",
    )
    assert result.top["error_message"] == "PIMS login failed: Invalid username or password"


DISK_FULL = "disk full (injected)"


@pytest.mark.parametrize(("phase", "matrix"), grid("inbound", "full"), indirect=["matrix"])
def test_disk_full_fails_the_run_and_the_next_run_converges(
    matrix: Matrix, fault_report: FaultReport, phase: str
) -> None:
    fault_report.describe(
        DISK_FULL,
        "A `before_cursor_execute` hook on the API server's own engine makes every INSERT/"
        "UPDATE of `cases` and `patients` raise the driver's error for a full disk "
        f"(SQLite: `{SQLITE_FULL}`; Postgres: psycopg's DiskFull, SQLSTATE 53100), so it "
        "rises where a real one would. For inbound, cases and full the first write of the "
        "batch (its cases upsert) still goes through and the second (its patient rows, same "
        "transaction) fails, so nothing stays written only if the batch is rolled back; "
        "reconciliation's first write fails. Expected: the run fails with a clear storage "
        "message (a full run: 207, every phase that writes failed), the audit row says "
        "so, the batch is rolled back (nothing partial), and a run without the fault "
        "converges.",
    )
    expected = (
        "207 inbound failed, cases failed, reconciliation failed"
        if phase == "full"
        else "503 storage_unavailable"
    )
    # Inbound and cases write a batch's cases, then its patient rows, in one transaction:
    # the first statement goes through, so nothing stays written only if it is rolled back.
    # Reconciliation writes cases alone: its first statement fails.
    after = 0 if phase == "reconcile" else 1
    result = cell(
        matrix,
        DISK_FULL,
        phase,
        lambda: matrix.disk.arm(after=after),
        expected=expected + "; nothing written",
        evidence=nothing_written,
    )
    assert matrix.disk.failed_statements > 0
    assert matrix.disk.passed_statements == after
    assert "disk" in result.top["error_message"] or "space" in result.top["error_message"]
