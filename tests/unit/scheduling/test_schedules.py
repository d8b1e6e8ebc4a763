"""Schedule entries: validation with one clear error per bad entry."""

from __future__ import annotations

import pytest

from pims_sync.domain.runs import SyncType
from pims_sync.domain.schedules import parse_schedule, parse_schedules, validate_cron
from pims_sync.errors import ScheduleError


def test_valid_entries_keep_their_options() -> None:
    parsed = parse_schedules(
        [
            {"type": "inbound", "cron": "0 6 * * *", "options": {"daysAhead": 14}},
            {"type": "reconciliation", "cron": "30  2 * * 1-5", "enabled": False},
        ]
    )
    assert parsed.problems == ()
    inbound, reconciliation = parsed.schedules
    assert inbound.type is SyncType.INBOUND
    assert inbound.options == {"daysAhead": 14}
    assert reconciliation.cron == "30 2 * * 1-5"
    assert not reconciliation.enabled


def test_each_invalid_entry_is_reported_and_the_rest_kept() -> None:
    parsed = parse_schedules(
        [
            {"type": "enrich", "cron": "0 6 * * *"},
            {"type": "cases", "cron": "61 * * * *"},
            {"type": "cases", "cron": "0 7 * * *", "enabled": "yes"},
            {"type": "full", "cron": "0 1 * * *", "options": {"lookbackDays": 91}},
            "not an object",
            {"type": "inbound", "cron": "0 6 * * *"},
            {"type": "inbound", "cron": "0 9 * * *"},
        ]
    )
    assert [s.cron for s in parsed.schedules] == ["0 6 * * *"]
    messages = [str(p) for p in parsed.problems]
    assert messages[0].startswith("schedule #1: type must be one of inbound")
    assert "'61 * * * *' is not a valid cron" in messages[1]
    assert "enabled must be true or false" in messages[2]
    assert "option lookbackDays must be a whole number from 0 to 90" in messages[3]
    assert "must be an object" in messages[4]
    assert messages[5] == "schedule #7: a inbound schedule is already defined"


def test_not_a_list_is_one_problem() -> None:
    parsed = parse_schedules({"type": "inbound"})
    assert parsed.schedules == ()
    assert "must be a list" in str(parsed.problems[0])


@pytest.mark.parametrize(
    ("cron", "error"),
    [
        ("", "non-empty"),
        ("* * * *", "has 4 fields"),
        ("0 0 6 * * * *", "has 7 fields"),
        ("0 25 * * *", "not a valid cron"),
        ("every day", "has 2 fields"),
    ],
)
def test_invalid_crons_say_why(cron: str, error: str) -> None:
    with pytest.raises(ScheduleError, match=error):
        validate_cron(cron)


def test_six_fields_are_leading_seconds() -> None:
    assert validate_cron("*/10 * * * * *") == "*/10 * * * * *"


def test_unknown_option_is_named() -> None:
    with pytest.raises(ScheduleError, match="unknown option 'dayz'"):
        parse_schedule({"type": "inbound", "cron": "0 6 * * *", "options": {"dayz": 1}})
