"""Every entry point accepts and refuses the same run option values, in the same words.

One table of values (docs/api.md#run-options); each row goes to the four entry points
that take run options:

- the HTTP API: the real app, `POST /api/sync/<type>`, over HTTP in process;
- schedules: the real `PATCH /api/scheduler/schedules` route (the validation of
  `pims-sync schedules set` and of the scheduler itself);
- the CLI: `pims-sync sync <type> --option value`, through typer's CliRunner;
- the console: the Run Sync form's validation (`sync_request`), as both consoles use it.

The clinic has a run going, so an accepted value ends in "a run is already in progress"
(409 on the API, the same line on the CLI) and nothing is synced. Each entry point names
the option its own way; what follows the name is the declaration's rule, and must be the
same everywhere (a message without the expected name is compared whole, and so differs).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx
import pytest
from typer.testing import CliRunner

from pims_sync.api.app import create_app
from pims_sync.bootstrap import Services, build_services
from pims_sync.cli.app import app as cli
from pims_sync.cli.console.model import FORM_FIELDS, FormError, sync_request
from pims_sync.domain.runs import SyncType, Trigger
from tests.integration.api.conftest import ENCRYPTION_KEY, api_settings, client_for, insert_key

API, SCHEDULE, CLI, CONSOLE = "api", "schedule", "cli", "console"
EVERYWHERE = (API, SCHEDULE, CLI, CONSOLE)
TYPED = (API, CLI, CONSOLE)  # dates: a schedule repeats, it takes no dates
JSON_ONLY = (API, SCHEDULE)  # flags: a switch on the command line, not in the console form
THIS_YEAR = datetime.now(UTC).year
REACH = f"must be a day from {THIS_YEAR - 10}-01-01 to {THIS_YEAR + 10}-12-31"
WHOLE_0_90 = "must be a whole number from 0 to 90"
WHOLE_1_50 = "must be a whole number from 1 to 50"


@dataclass(frozen=True)
class Row:
    """A value for one option of one type of run, and the rule it breaks (None: accepted)."""

    sync_type: SyncType
    option: str
    value: int | float | str | bool
    refused: str | None
    where: tuple[str, ...] = EVERYWHERE

    @property
    def text(self) -> str:
        """The value as a person types it."""
        return self.value if isinstance(self.value, str) else str(self.value)


INB, CAS, REC, FUL = SyncType.INBOUND, SyncType.CASES, SyncType.RECONCILIATION, SyncType.FULL
TABLE = [
    Row(INB, "daysAhead", 0, None),
    Row(INB, "daysAhead", 90, None),
    Row(INB, "daysAhead", 91, WHOLE_0_90),
    Row(INB, "daysAhead", -1, WHOLE_0_90),
    Row(INB, "daysAhead", 7.5, WHOLE_0_90),
    Row(REC, "lookbackDays", 0, None),
    Row(REC, "lookbackDays", 90, None),
    Row(REC, "lookbackDays", 91, WHOLE_0_90),
    Row(REC, "lookbackDays", 180, WHOLE_0_90),
    Row(CAS, "parallelBatchSize", 1, None),
    Row(CAS, "parallelBatchSize", 50, None),
    Row(CAS, "parallelBatchSize", 0, WHOLE_1_50),
    Row(CAS, "parallelBatchSize", 51, WHOLE_1_50),
    Row(FUL, "daysAhead", 90, None),
    Row(FUL, "lookbackDays", 0, None),
    Row(FUL, "lookbackDays", 91, WHOLE_0_90),
    Row(FUL, "parallelBatchSize", 51, WHOLE_1_50),
    Row(INB, "startDate", f"{THIS_YEAR}-01-15", None, TYPED),
    Row(INB, "startDate", f"{THIS_YEAR}-02-30", "is not a real date", TYPED),
    Row(INB, "startDate", f"15/01/{THIS_YEAR}", "must be a date as YYYY-MM-DD", TYPED),
    Row(FUL, "startDate", f"{THIS_YEAR + 11}-01-01", REACH, TYPED),
    Row(REC, "force", True, None, JSON_ONLY),
    Row(REC, "force", "yes", "must be true or false", JSON_ONLY),
    Row(REC, "dryRun", 0, "must be true or false", JSON_ONLY),
]
# The API's route, the CLI's command and the console's type have the same names.
ROUTES = {INB: "inbound", CAS: "cases", REC: "reconcile", FUL: "full"}
FLAGS = {
    "daysAhead": "--days-ahead",
    "lookbackDays": "--lookback-days",
    "parallelBatchSize": "--parallel-batch-size",
    "startDate": "--start-date",
}
FIELDS = {
    "startDate": "start",
    "daysAhead": "days",
    "lookbackDays": "lookback",
    "parallelBatchSize": "parallel",
}


@dataclass
class Stack:
    """The app over HTTP, a key, a busy clinic, and the environment of the CLI."""

    http: httpx.AsyncClient
    key: dict[str, str]
    clinic: uuid.UUID
    env: dict[str, str]


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """Options are checked before any database work: one kind of database is enough here."""
    return sqlite_url


@pytest.fixture
async def stack(migrated_database_url: str) -> AsyncIterator[Stack]:
    """The real app on a migrated database whose one clinic has a run going."""
    services: Services = build_services(api_settings(migrated_database_url))
    try:
        clinic = await services.clinics.add(name="Busy Paws", timezone="Europe/Berlin")
        await services.runs.start(
            clinic_id=clinic.id,
            sync_type=SyncType.FULL,
            triggered_by=Trigger.API,
            at=datetime.now(UTC),
        )
        _, key = await insert_key(services, clinic_id=clinic.id)
        env = {"DATABASE_URL": migrated_database_url, "ENCRYPTION_KEY": ENCRYPTION_KEY}
        async with client_for(create_app(services.settings, services)) as http:
            yield Stack(http, {"X-API-Key": key}, clinic.id, env)
    finally:
        await services.aclose()


async def over_api(stack: Stack, row: Row) -> str | None:
    """`POST /api/sync/<type>`; 409 busy means the body was accepted."""
    route = f"/api/sync/{ROUTES[row.sync_type]}"
    response = await stack.http.post(route, json={row.option: row.value}, headers=stack.key)
    body = response.json()
    if response.status_code == 409 and body["code"] == "sync_in_progress":
        return None
    if response.status_code == 400 and body["code"] == "validation_error":
        [problem] = body["validationErrors"]
        assert problem["field"] == f"body.{row.option}", problem
        return str(problem["message"])
    return f"{response.status_code} {body}"


async def as_schedule(stack: Stack, row: Row) -> str | None:
    """`PATCH /api/scheduler/schedules` with the value as the schedule's option."""
    change = {"type": row.sync_type.value, "cron": "0 6 * * *", "options": {row.option: row.value}}
    response = await stack.http.patch("/api/scheduler/schedules", json=change, headers=stack.key)
    if response.status_code == 200:
        assert response.json()["job"]["options"] == {row.option: row.value}
        return None
    return str(response.json()["error"]).removeprefix(f"option {row.option} ")


def on_command_line(stack: Stack, row: Row) -> str | None:
    """`pims-sync sync <type> --clinic ID --<option> <value>`."""
    flag = FLAGS[row.option]
    args = ["sync", ROUTES[row.sync_type], "--clinic", str(stack.clinic), flag, row.text]
    result = CliRunner().invoke(cli, args, env=stack.env)
    assert result.exit_code == 1, result.output
    if "already" in result.output and "in progress" in result.output:
        return None
    return result.output.strip().removeprefix(f"error: {flag}: ")


def in_console_form(row: Row) -> str | None:
    """The Run Sync form with this value in its field, the others at their defaults."""
    typed = {field.key: field.default for field in FORM_FIELDS}
    typed[FIELDS[row.option]] = row.text
    try:
        _, body = sync_request(ROUTES[row.sync_type], typed)
    except FormError as error:
        label = next(f.label for f in FORM_FIELDS if f.key == FIELDS[row.option])
        return error.message.removeprefix(f"{label} ")
    assert body[row.option] == row.value, body
    return None


async def outcomes(stack: Stack, row: Row) -> dict[str, str | None]:
    """What each entry point of the row said: None (accepted) or its rule."""
    said: dict[str, str | None] = {}
    if API in row.where:
        said[API] = await over_api(stack, row)
    if SCHEDULE in row.where:
        said[SCHEDULE] = await as_schedule(stack, row)
    if CLI in row.where:
        said[CLI] = await asyncio.to_thread(on_command_line, stack, row)
    if CONSOLE in row.where:
        said[CONSOLE] = in_console_form(row)
    return said


async def test_every_entry_point_accepts_and_refuses_the_same_values(stack: Stack) -> None:
    wrong = []
    for row in TABLE:
        said = await outcomes(stack, row)
        expected = dict.fromkeys(row.where, row.refused)
        if said != expected:
            wrong.append(f"{row.sync_type.value} {row.option}={row.value!r}: {said}")
    assert not wrong, "\n".join(["expected the table's rule everywhere, got:", *wrong])
