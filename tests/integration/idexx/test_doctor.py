"""`pims-sync doctor` against the simulator, standard and wild (real Chromium).

The report must name the traits the site showed, and nothing in it (text or JSON) may
carry a name, phone, e-mail, address, reason or note of the simulated world.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from typer.testing import CliRunner

from pims_sync.adapters.idexx.doctor import DoctorReport, examine
from pims_sync.adapters.idexx.shape import VALUE_FIELDS, spread
from pims_sync.cli.app import app
from pims_sync.cli.doctor import report_json, report_text
from pims_sync.simulator import shapes
from pims_sync.simulator.config import DEFAULTS, SimulatorConfig
from pims_sync.simulator.dataset import Client, Clinic
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.idexx.harness import SimulatorControl, clinic_login, idexx_options
from tests.log_scan import feed

pytestmark = pytest.mark.browser
KEY = "doctor-test-key-0123456789abcdefghijklm"
ZONE = ZoneInfo(DEFAULTS.timezone)
MIN_TOKEN = 4  # shorter name parts would match ordinary words
WILD_TRAITS = {
    "login form drawn by script",
    "hidden CSRF field",
    "redirect chain after login",
    "code-like input on landing page",
    "JSON served as text/html",
    "string ids",
    "id differs from appointment_id",
    "flags as 0/1",
    "lower-case statuses",
    "mixed-case names",
    "multi-day stays",
    "notes only in dischargeSummary",
    "consultationNotes as a list",
}
# Traits the standard profile never shows (lower-case statuses it does: `not arrived`).
NOT_STANDARD = WILD_TRAITS - {"lower-case statuses"} | {
    "consultation not ready (200 success:false)"
}


@pytest.fixture(scope="module")
def wild() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(SimulatorConfig(profile="wild")) as running:
        yield running


@pytest.fixture
def wild_control(wild: BackgroundSimulator) -> Iterator[SimulatorControl]:
    control = SimulatorControl(wild.base_url)
    yield control
    control._post("/clock", {"real": True})
    control.close()


def _today() -> date:
    return datetime.now(ZONE).date()


def _examine(simulator: BackgroundSimulator, day: date | None) -> DoctorReport:
    return asyncio.run(examine(idexx_options(simulator.base_url), clinic_login(), day))


# --- the scan --------------------------------------------------------------------------------


def _personal_data(simulator: BackgroundSimulator, days: list[date]) -> tuple[set[str], set[str]]:
    """(texts found anywhere, words found as whole words) of the simulated world."""
    world = simulator.simulation.world
    texts: set[str] = set()
    words: set[str] = set()
    for clinic in world.clinics:
        for client in clinic.clients.values():
            texts |= {f"{client.first_name} {client.last_name}", client.street}
            texts |= {f"{client.last_name}, {client.first_name}"}
            texts |= {client.email or ""} | _phones(client)
            words |= {client.first_name, client.last_name}
        for patient in clinic.patients.values():
            words.add(patient.name)
        texts |= _notes_and_reasons(simulator, clinic, days)
    words = {part for word in words for part in re.findall(r"\w+", word) if len(part) >= MIN_TOKEN}
    return {text.casefold() for text in texts if len(text) >= MIN_TOKEN}, words


def _phones(client: Client) -> set[str]:
    found = set()
    for key in ("mobile_phone", "home_phone", "work_phone"):
        phone = getattr(client, key)
        if phone:
            digits = re.sub(r"\D", "", phone)
            found |= {phone, digits, f"{digits[:3]}-{digits[3:6]}-{digits[6:]}"}
    return found


def _notes_and_reasons(
    simulator: BackgroundSimulator, clinic: Clinic, days: list[date]
) -> set[str]:
    """Every paragraph of the consultation notes (and the reasons) of these days."""
    world, now = simulator.simulation.world, simulator.simulation.clock.now()
    types = {kind.name.casefold() for kind in clinic.types}
    found: set[str] = set()
    for day in days:
        for visit in world.day(clinic, day):
            if visit.reason and visit.reason.casefold() not in types:
                found.add(visit.reason)
            if visit.consultation_id is None:
                continue
            data = shapes.page_data(clinic, visit, now)
            for html in _strings(data.get("consultationNotes")) + _strings(data["consultation"]):
                found |= {part.strip() for part in re.split(r"<[^>]+>", html)}
    return found


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [text for item in value.values() for text in _strings(item)]
    if isinstance(value, list):
        return [text for item in value for text in _strings(item)]
    return []


def assert_no_personal_data(output: str, personal: tuple[set[str], set[str]]) -> None:
    texts, words = personal
    folded = output.casefold()
    leaked = sorted(text for text in texts if text in folded)
    leaked += sorted(
        word for word in words if re.search(rf"(?<!\w){re.escape(word)}(?!\w)", output, re.I)
    )
    assert not leaked, f"personal data in the doctor's report: {[w[:2] + '…' for w in leaked]}"


def _outputs(report: DoctorReport) -> str:
    return report_text(report) + "\n" + json.dumps(report_json(report), ensure_ascii=False)


def test_the_scan_finds_planted_personal_data(simulator: BackgroundSimulator) -> None:
    day = _today() - timedelta(days=2)
    personal = _personal_data(simulator, [day])
    clinic = simulator.simulation.world.clinics[0]
    client = next(c for c in clinic.clients.values() if c.mobile_phone and c.email)
    patient = next(p for p in clinic.patients.values() if len(p.name) >= MIN_TOKEN)
    visit = next(v for v in simulator.simulation.world.day(clinic, day) if v.consultation_id)
    notes = shapes.page_data(clinic, visit, simulator.simulation.clock.now())
    paragraph = re.split(r"<[^>]+>", notes["consultationNotes"]["notes"])[3]
    digits = re.sub(r"\D", "", client.mobile_phone or "")
    for planted in (
        f"owner {client.first_name.title()} {client.last_name.lower()} called",
        f"pet: {patient.name.title()}.",
        f"phone {digits}",
        f"mail {(client.email or '').upper()}",
        f"note says {paragraph.lower()}",
    ):
        with pytest.raises(AssertionError, match="personal data"):
            assert_no_personal_data(f"field types ok; {planted}; done", personal)
    assert_no_personal_data("status_label (string), notes in consultationNotes.notes", personal)


# --- the standard profile --------------------------------------------------------------------


def test_standard_profile_report_and_scan(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    day = _today() - timedelta(days=2)  # every consultation of that day is finished
    report = _examine(simulator, day)

    assert report.ok, report.problem
    assert report.login.ok
    assert report.login.cookie_names == ["neo_session"]
    assert report.login.trace.landing_path == "/schedule"
    assert [e.endpoint for e in report.exchanges[:2]] == ["login page", "calendar"]
    assert all(e.status == 200 for e in report.exchanges)
    calendar = report.calendar
    assert calendar is not None
    assert calendar.envelope == "bare array"
    assert calendar.events > 30
    assert calendar.fields["appointment_id"].types == {"number"}
    assert calendar.fields["consultation_id"].types == {"number", "null"}
    assert 0 < calendar.fields["consultation_id"].null_rate() < 1
    assert calendar.values["current_status"] <= {"Finalized", "No Show", "Cancelled"}
    assert calendar.values["type_description"]
    assert set(calendar.values) <= set(VALUE_FIELDS)
    assert report.consultations_day == day
    assert len(report.consultations) == 3
    for result in report.consultations:
        assert result.outcome == "read"
        assert result.shape is not None
        assert result.shape.notes_found_in == ["consultationNotes.notes"]
    assert not set(report.traits()) & NOT_STANDARD

    days = [day - timedelta(days=n) for n in range(8)]
    assert_no_personal_data(_outputs(report), _personal_data(simulator, days))


def test_looks_back_for_consultations_and_reports_a_calendar_failure(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    later = _today() + timedelta(days=5)  # later days have no consultation yet
    report = _examine(simulator, later)
    assert report.ok
    assert [e.endpoint for e in report.exchanges].count("calendar (earlier day)") == 5
    assert report.consultations_day == _today()

    sim.fault(endpoint="calendar", refusal=True)
    failed = _examine(simulator, later)
    assert not failed.ok
    assert failed.problem is not None
    assert failed.problem.stage == "calendar"
    assert failed.problem.message == (
        'IDEXX Neo calendar: not a list of events (the answer is: {"success": false} refusal)'
    )
    assert failed.calendar is not None
    assert failed.calendar.envelope_keys == ["message", "success"]
    assert failed.login.ok
    assert failed.consultations == []


def test_a_refused_login_is_the_problem_reported(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> None:
    report = asyncio.run(
        examine(idexx_options(simulator.base_url), clinic_login(password="not-the-password"))
    )
    assert report.problem is not None
    assert (report.problem.stage, report.problem.code) == ("login", "pims_auth_failed")
    assert "Invalid username or password" in report.problem.message
    assert not report.login.ok
    assert report.login.trace.landing_path == "/login"
    assert [e.endpoint for e in report.exchanges] == ["login page"]
    assert report.calendar is None
    assert "FAILED at login" in report_text(report)


# --- the wild profile ------------------------------------------------------------------------


def _day_with_moved_notes(control: SimulatorControl) -> date:
    """A past day whose 3 picked consultations include a discharge-only and a list note."""
    for back in range(2, 60):
        day = _today() - timedelta(days=back)
        text = day.isoformat()
        events = control.events(text, text)
        ids = [str(e["consultation_id"]) for e in events if e.get("consultation_id")]
        picked = {int(i) % 5 for i in spread(ids, 3)}
        if {0, 1} <= picked:  # the simulator moves notes by consultation id modulo 5
            return day
    raise AssertionError("no day with both kinds of moved notes in 60 days")


def test_wild_profile_names_its_traits_and_leaks_nothing(
    wild: BackgroundSimulator, wild_control: SimulatorControl
) -> None:
    day = _day_with_moved_notes(wild_control)
    report = _examine(wild, day)

    assert report.ok, report.problem
    missing = WILD_TRAITS - set(report.traits())
    assert not missing, f"traits not named: {missing}"
    assert len(report.login.trace.redirects) >= 3
    assert report.login.trace.hidden_fields
    calendar = report.calendar
    assert calendar is not None
    assert calendar.fields["id"].types == {"string"}
    assert "FINALIZED" in calendar.values["current_status"]
    assert all(e.content_type and "text/html" in e.content_type for e in report.exchanges)
    places = {p for r in report.consultations if r.shape for p in r.shape.notes_found_in}
    assert {"consultation.dischargeSummary", "consultationNotes (list)"} <= places

    days = [day - timedelta(days=n) for n in range(-4, 8)]  # stays reach days ahead
    assert_no_personal_data(_outputs(report), _personal_data(wild, days))


def test_wild_unfinished_consultations_are_reported_not_fatal(
    wild: BackgroundSimulator, wild_control: SimulatorControl
) -> None:
    day = _today() - timedelta(days=1)
    wild_control._post("/clock", {"now": f"{day.isoformat()} 07:00:00"})  # before any visit
    report = _examine(wild, day)

    assert report.ok, report.problem
    assert [r.outcome for r in report.consultations] == ["refused (success: false)"] * 3
    assert "consultation not ready (200 success:false)" in report.traits()
    assert_no_personal_data(_outputs(report), _personal_data(wild, [day]))


# --- the command -----------------------------------------------------------------------------


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_the_command_for_real(
    migrated_database_url: str,
    simulator: BackgroundSimulator,
    sim: SimulatorControl,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    env = {"DATABASE_URL": migrated_database_url, "ENCRYPTION_KEY": KEY, "HEADLESS": "true"}
    clinic_id = _clinic_with_login(env, simulator.base_url)
    personal = _personal_data(simulator, [_today() - timedelta(days=n) for n in range(8)])

    code, out, err = _doctor(env, tmp_path, "--clinic", clinic_id, "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["ok"] is True
    assert report["error"] is None
    assert report["date"] == _today().isoformat()
    assert report["calendar"]["fields"]["appointment_id"] == {
        "types": ["number"],
        "nullRate": 0.0,
        "in": report["calendar"]["events"],
    }
    assert {e["endpoint"] for e in report["endpoints"]} >= {"login page", "calendar"}
    assert_no_personal_data(out + err, personal)

    sim.fault(endpoint="calendar", status=503)
    code, out, err = _doctor(env, tmp_path, "--clinic", clinic_id, "--date", "2026-03-02")
    assert code == 1
    assert err.strip().splitlines() == ["error: IDEXX Neo calendar: HTTP 503"]
    assert "Traceback" not in out + err
    assert "result: FAILED at calendar" in out
    assert "Login: OK" in out
    assert_no_personal_data(out + err, personal)

    code, out, err = _doctor(env, tmp_path, "--clinic", clinic_id, "--date", "02/03/2026")
    assert code == 1
    assert err.strip() == "error: --date must be a day as YYYY-MM-DD, got '02/03/2026'"


def _clinic_with_login(env: dict[str, str], base_url: str) -> str:
    runner = CliRunner()
    added = runner.invoke(app, ["clinics", "add", "--name", "Doctor Clinic", "--json"], env=env)
    assert added.exit_code == 0, added.output
    clinic_id: str = json.loads(added.output)["id"]
    stored = runner.invoke(
        app,
        ["credentials", "set", "--clinic", clinic_id, "--username", DEFAULTS.username,
         "--company-id", str(DEFAULTS.company_id), "--base-url", base_url],
        input=DEFAULTS.password + "\n",
        env=env,
    )  # fmt: skip
    assert stored.exit_code == 0, stored.output
    return clinic_id


def _doctor(env: dict[str, str], cwd: Path, *args: str) -> tuple[int, str, str]:
    command = Path(sys.executable).with_name("pims-sync")
    done = subprocess.run(
        [str(command), "doctor", *args],
        cwd=cwd,  # no stray .env is read
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    feed(done.stdout + done.stderr, "pims-sync doctor")
    return done.returncode, done.stdout, done.stderr
