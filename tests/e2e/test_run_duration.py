"""A run's `durationMs` is one measurement: the POST reply, `GET /api/sync/{id}`, the audit row.

It spans the whole run, the PIMS login included: the simulator draws its login form
`loginFormDelayMs` after the page loads, so a run that logs in cannot take less.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest

from tests.conftest import migrated_database
from tests.e2e.sync_stack import Stack, running_stack

pytestmark = pytest.mark.browser

FORM_DELAY_MS = 1500
SAME_MS = 50  # the reply and the audit row read one clock; only storage may round


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with migrated_database(request.param, tmp_path_factory.mktemp("duration"), "duration") as url:
        yield from running_stack(url)


def span_ms(started: datetime, completed: datetime) -> int:
    return round((completed - started).total_seconds() * 1000)


def assert_one_duration(stack: Stack, reply: dict[str, Any]) -> None:
    """The reply's durationMs is GET's, the audit row's span and its stored result's."""
    detail = stack.api.get(f"/api/sync/{reply['syncId']}").json()
    audit, _ = stack.db.audits(reply["syncId"])
    duration = reply["durationMs"]
    assert abs(detail["durationMs"] - duration) <= SAME_MS, (detail, reply)
    assert abs(span_ms(audit["started_at"], audit["completed_at"]) - duration) <= SAME_MS
    assert audit["result"]["durationMs"] == duration
    assert detail["result"]["timestamp"] == reply["timestamp"] == detail["completedAt"]


def test_a_runs_duration_includes_its_login_and_is_the_same_everywhere(stack: Stack) -> None:
    stack.control.post("/settings", {"loginFormDelayMs": FORM_DELAY_MS})
    try:
        answer = stack.sync("inbound", daysAhead=1)
    finally:
        stack.control.reset()
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["durationMs"] >= FORM_DELAY_MS  # the login's wait for its form is in it
    assert_one_duration(stack, reply)


def test_a_full_runs_duration_is_the_same_everywhere(stack: Stack) -> None:
    answer = stack.sync("full", daysAhead=1, lookbackDays=1)
    assert answer.status_code == 200, answer.text
    assert_one_duration(stack, answer.json())
