"""The clinic page: freshness, the week's runs, the latest run live, schedules, Sync now,
and the PIMS login check."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from pims_sync.adapters.sql.dashboard import SqlDashboardReads
from pims_sync.api.auth import clinic_for
from pims_sync.api.dashboard.actions import Answer, call_api
from pims_sync.api.dashboard.pages import (
    PREFIX,
    PageNotFound,
    checked_form,
    page,
    router,
    signed_in,
)
from pims_sync.api.dashboard.plain import in_plain_words
from pims_sync.api.dashboard.timeline import Bar, timeline_bars
from pims_sync.api.deps import get_services
from pims_sync.api.run_events import event_stream
from pims_sync.api.streams import LeasedStream
from pims_sync.api.sync_runs import find_run
from pims_sync.domain.api_keys import ApiKey
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.runs import RunRecord, RunStatus, SyncType
from pims_sync.errors import (
    ClinicForbiddenError,
    ClinicInactiveError,
    ClinicNotFoundError,
    SyncNotFoundError,
)

WEEK = timedelta(days=7)
# What "Sync now" may start: the form's value → the API's path.
SYNC_KINDS = {"full": "full", "inbound": "inbound", "cases": "cases", "reconcile": "reconcile"}


async def page_clinic(request: Request, key: ApiKey, clinic_id: str) -> Clinic:
    """The clinic if this key may see it; PageNotFound otherwise (never saying which)."""
    try:
        wanted = UUID(clinic_id)
        return await clinic_for(get_services(request).clinics, key, wanted)
    except (ValueError, ClinicForbiddenError, ClinicNotFoundError, ClinicInactiveError):
        raise PageNotFound from None


@dataclass(frozen=True, slots=True)
class LatestRun:
    """The latest run and its phases (a full run's)."""

    run: RunRecord
    phases: list[RunRecord]


async def clinic_context(request: Request, key: ApiKey, clinic: Clinic) -> dict[str, Any]:
    """Everything the clinic page shows."""
    services = get_services(request)
    now = datetime.now(UTC)
    [freshness] = await services.health.freshness(at=now, clinic_ids=[clinic.id])
    week = await SqlDashboardReads(services.engine).runs_since([clinic.id], now - WEEK)
    latest: LatestRun | None = None
    recent = week[-1:] or await services.runs.history(clinic_id=clinic.id, limit=1)
    if recent:
        phases = await services.runs.children(clinic_id=clinic.id, parent_id=recent[0].id)
        latest = LatestRun(recent[0], phases)
    failed = await services.runs.history(clinic_id=clinic.id, limit=1, status=RunStatus.FAILED)
    config = await services.schedules.get(clinic.id)
    bars: list[Bar] = timeline_bars(week, now - WEEK, now)
    return {
        "key": key,
        "clinic": clinic,
        "freshness": freshness,
        "bars": bars,
        "week_runs": len(week),
        "latest": latest,
        "last_failure": failed[0] if failed else None,
        "failure_words": in_plain_words(failed[0].result) if failed else None,
        "schedules": [e for e in (config.entries if config else []) if isinstance(e, dict)],
        "sync_kinds": list(SYNC_KINDS),
        "now": now,
    }


@router.get("/clinics/{clinic_id}", response_class=HTMLResponse)
async def clinic_page(request: Request, clinic_id: str) -> Response:
    """One clinic: freshness, runs of the week, the latest run (live), schedules, actions."""
    key, _ = await signed_in(request)
    clinic = await page_clinic(request, key, clinic_id)
    context = await clinic_context(request, key, clinic)
    notice, bad = request.query_params.get("notice"), request.query_params.get("bad")
    return page(request, "clinic.html", notice=notice, bad=bad, **context)


def back(clinic: Clinic, notice: str, *, bad: bool = False) -> Response:
    """Back to the clinic page with a line saying what happened."""
    query = urlencode({"notice": notice, **({"bad": "1"} if bad else {})})
    return RedirectResponse(f"{PREFIX}/clinics/{clinic.id}?{query}", status_code=303)


def refused(answer: Answer) -> str:
    """The API's refusal, for the notice line."""
    return f"Refused by the API ({answer.status}): {answer.message}"


@router.post("/clinics/{clinic_id}/sync", response_class=HTMLResponse)
async def sync_now(request: Request, clinic_id: str) -> Response:
    """Start a run through `POST /api/sync/<kind>`; a reconciliation preview waits for it."""
    fields = await checked_form(request)
    key, secret = await signed_in(request)
    clinic = await page_clinic(request, key, clinic_id)
    kind = SYNC_KINDS.get(fields.get("kind", ""))
    if kind is None:
        return back(clinic, "Choose what to sync: full, inbound, cases or reconcile.", bad=True)
    preview = kind == "reconcile" and fields.get("dry_run") == "on"
    body: dict[str, Any] = {"clinicId": str(clinic.id), "async": not preview}
    if preview:
        body["dryRun"] = True
    answer = await call_api(request.app, secret, "POST", f"/api/sync/{kind}", body)
    if not answer.ok and answer.status != 207:
        return back(clinic, refused(answer), bad=True)
    if preview:
        context = await clinic_context(request, key, clinic)
        return page(request, "clinic.html", preview=answer.body, **context)
    return back(clinic, f"Started: {kind} sync.")


def login_words(answer: Answer) -> str:
    """The login check's answer for the notice line: OK with its seconds, or the refusal."""
    if answer.body.get("ok") is True:
        return f"PIMS login OK ({answer.body.get('seconds')} s)."
    code = answer.body.get("code")
    if code == "pims_auth_failed":
        # The run's wording says the clinic stays paused; a check pauses nothing.
        words = "The PIMS refused the stored username or password (pims-sync credentials set)."
    else:
        words = in_plain_words(answer.body) or "The PIMS login did not succeed."
    return f"PIMS login failed: {words} Details: {answer.message}"


@router.post("/clinics/{clinic_id}/login-check", response_class=HTMLResponse)
async def check_login(request: Request, clinic_id: str) -> Response:
    """Log in to the clinic's PIMS once through `POST /api/clinic/credentials/test`."""
    await checked_form(request)
    key, secret = await signed_in(request)
    clinic = await page_clinic(request, key, clinic_id)
    body = {"clinicId": str(clinic.id)}
    answer = await call_api(request.app, secret, "POST", "/api/clinic/credentials/test", body)
    if not answer.ok:
        return back(clinic, refused(answer), bad=True)
    return back(clinic, login_words(answer), bad=answer.body.get("ok") is not True)


@router.post("/clinics/{clinic_id}/schedules", response_class=HTMLResponse)
async def switch_schedule(request: Request, clinic_id: str) -> Response:
    """Switch one schedule on or off through `PATCH /api/scheduler/schedules`."""
    fields = await checked_form(request)
    key, secret = await signed_in(request)
    clinic = await page_clinic(request, key, clinic_id)
    kind, enabled = fields.get("type", ""), fields.get("enabled") == "true"
    if kind not in {t.value for t in SyncType}:
        return back(clinic, "Unknown schedule type.", bad=True)
    body = {"clinicId": str(clinic.id), "type": kind, "enabled": enabled}
    answer = await call_api(request.app, secret, "PATCH", "/api/scheduler/schedules", body)
    if not answer.ok:
        return back(clinic, refused(answer), bad=True)
    return back(clinic, f"The {kind} schedule is now {'on' if enabled else 'off'}.")


@router.get("/clinics/{clinic_id}/runs/{run_id}/events")
async def run_events(request: Request, clinic_id: str, run_id: str) -> Response:
    """The run's Server-Sent Events, as `GET /api/sync/{id}/events` streams them."""
    key, _ = await signed_in(request)
    clinic = await page_clinic(request, key, clinic_id)
    services = get_services(request)
    try:
        run = await services.runs.get(clinic_id=clinic.id, run_id=UUID(run_id))
    except ValueError:
        run = None
    if run is None:
        raise PageNotFound
    return LeasedStream(
        event_stream(services, clinic.id, run.id),
        slots=request.app.state.stream_slots,
        key_id=key.id,
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )


PHASE_RESULTS = (
    ("inbound", "inboundResult"),
    ("cases", "casesResult"),
    ("reconciliation", "reconciliationResult"),
)
CASE_ID_LISTS = ("deletedCaseIds", "wouldDelete", "wouldRestore", "wouldUpdate")


def phase_results(sync_type: SyncType, result: dict[str, Any] | None) -> list[tuple[str, Any]]:
    """(phase, its result) of a run's result: a full run's three, or the one phase's."""
    if not isinstance(result, dict):
        return []
    if sync_type is SyncType.FULL:
        return [
            (name, result[key]) for name, key in PHASE_RESULTS if isinstance(result.get(key), dict)
        ]
    return [(sync_type.value, result)]


@router.get("/clinics/{clinic_id}/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, clinic_id: str, run_id: str) -> Response:
    """One run: summary, phases, each phase's stats, errors and the cases it touched."""
    key, _ = await signed_in(request)
    clinic = await page_clinic(request, key, clinic_id)
    services = get_services(request)
    try:
        detail = await find_run(services, clinic.id, UUID(run_id))
    except (ValueError, SyncNotFoundError):
        raise PageNotFound from None
    record = await services.runs.get(clinic_id=clinic.id, run_id=detail.sync_id)
    if record is None:
        raise PageNotFound
    return page(
        request,
        "run.html",
        key=key,
        clinic=clinic,
        run=record,
        detail=detail,
        phases=await services.runs.children(clinic_id=clinic.id, parent_id=record.id),
        results=phase_results(record.sync_type, record.result),
        id_lists=CASE_ID_LISTS,
    )
