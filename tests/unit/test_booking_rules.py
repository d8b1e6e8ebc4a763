"""Booking rules: the defaults, the document both ways, and every refusal's words."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import pytest

from pims_sync.domain.booking import (
    DEFAULT_RULES,
    Opening,
    parse_rules,
    rules_document,
    sorted_resources,
)
from pims_sync.errors import InvalidInputError


def test_the_defaults_are_weekdays_8_to_6_saturday_morning_15_minute_slots() -> None:
    document = rules_document(DEFAULT_RULES)
    assert document["openingHours"] == {
        **{
            day: ["08:00-18:00"] for day in ("monday", "tuesday", "wednesday", "thursday", "friday")
        },
        "saturday": ["09:00-13:00"],
        "sunday": [],
    }
    assert (document["slotMinutes"], document["minNoticeMinutes"], document["maxDaysAhead"]) == (
        15,
        60,
        60,
    )
    assert parse_rules({}) == DEFAULT_RULES
    assert parse_rules(document) == DEFAULT_RULES


def test_a_document_round_trips_and_a_day_left_out_is_closed() -> None:
    rules = parse_rules(
        {
            "openingHours": {"monday": ["13:00-18:00", "08:00-12:00"], "sunday": ["10:00-24:00"]},
            "exceptions": {"2026-12-25": [], "2026-12-24": ["08:00-12:00"]},
            "visitMinutes": {"Surgery": 120, "Vaccines": 15},
            "bookableResourceIds": ["7", "8", "7"],
            "bufferAfterMinutes": 10,
            "rostersDefineWorking": True,
        }
    )
    assert rules.hours[0] == (Opening(480, 720), Opening(780, 1080))  # sorted
    assert rules.hours[1] == ()  # tuesday was left out: closed
    assert rules.hours[6] == (Opening(600, 1440),)
    assert rules.opening_on(date(2026, 12, 25)) == ()
    assert rules.opening_on(date(2026, 12, 28)) == rules.hours[0]  # a Monday
    assert rules.bookable_resource_ids == ("7", "8")
    assert rules.visit_length("Surgery") == timedelta(minutes=120)
    assert rules.visit_length("Exam") == rules.visit_length(None) == timedelta(minutes=15)
    assert parse_rules(rules_document(rules)) == rules


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"slotMinutes": 4}, "slotMinutes must be a whole number from 5 to 240"),
        ({"slotMinutes": 15.0}, "slotMinutes must be a whole number from 5 to 240"),
        ({"minNoticeMinutes": True}, "minNoticeMinutes must be a whole number from 0 to 20160"),
        ({"maxDaysAhead": 0}, "maxDaysAhead must be a whole number from 1 to 365"),
        ({"bufferBeforeMinutes": 121}, "bufferBeforeMinutes must be a whole number from 0 to 120"),
        ({"rostersDefineWorking": "yes"}, "rostersDefineWorking must be true or false"),
        ({"openingHours": []}, "openingHours must be an object"),
        (
            {"openingHours": {"mon": []}},
            "openingHours: unknown day 'mon' (use monday, tuesday, wednesday, thursday, "
            "friday, saturday, sunday)",
        ),
        (
            {"openingHours": {"monday": "08:00-18:00"}},
            "openingHours.monday must be a list of at most 12 intervals as HH:MM-HH:MM",
        ),
        (
            {"openingHours": {"monday": ["8:00-18:00"]}},
            "openingHours.monday: '8:00-18:00' is not an interval as HH:MM-HH:MM",
        ),
        (
            {"openingHours": {"monday": ["08:00-24:30"]}},
            "openingHours.monday: 08:00-24:30 is not a time of day (00:00 to 24:00)",
        ),
        (
            {"openingHours": {"monday": ["24:00-24:00"]}},
            "openingHours.monday: 24:00-24:00 is not a time of day (00:00 to 24:00)",
        ),
        (
            {"openingHours": {"monday": ["12:00-12:00"]}},
            "openingHours.monday: 12:00-12:00 ends before it starts",
        ),
        (
            {"openingHours": {"friday": ["08:00-12:00", "11:59-13:00"]}},
            "openingHours.friday: 08:00-12:00 and 11:59-13:00 overlap",
        ),
        (
            {"exceptions": {"25/12/2026": []}},
            "exceptions: '25/12/2026' is not a date as YYYY-MM-DD",
        ),
        ({"exceptions": {"2026-02-29": []}}, "exceptions: 2026-02-29 is not a real date"),
        (
            {"exceptions": {"2026-12-24": ["14:00-12:00"]}},
            "exceptions.2026-12-24: 14:00-12:00 ends before it starts",
        ),
        (
            {"visitMinutes": {"Surgery": 481}},
            "visitMinutes.Surgery must be a whole number from 5 to 480",
        ),
        (
            {"visitMinutes": {"a\x00b": 30}},
            "visitMinutes: an appointment type is 1 to 100 printable characters",
        ),
        ({"bookableResourceIds": "7"}, "bookableResourceIds must be a list of at most 200 ids"),
        (
            {"bookableResourceIds": [7]},
            "bookableResourceIds: each id is text of 1 to 64 printable characters",
        ),
        (
            {"bookableResourceIds": [" 7"]},
            "bookableResourceIds: each id is text of 1 to 64 printable characters",
        ),
        (
            {"slot": 15},
            "unknown booking rule 'slot' (known: openingHours, exceptions, slotMinutes, "
            "visitMinutes, bookableResourceIds, bufferBeforeMinutes, bufferAfterMinutes, "
            "minNoticeMinutes, maxDaysAhead, rostersDefineWorking)",
        ),
    ],
)
def test_refusals_name_the_rule_and_its_bound(document: dict[str, Any], message: str) -> None:
    with pytest.raises(InvalidInputError) as refused:
        parse_rules(document)
    assert str(refused.value) == message


def test_touching_intervals_are_two_intervals() -> None:
    rules = parse_rules({"openingHours": {"monday": ["08:00-12:00", "12:00-13:00"]}})
    assert rules.hours[0] == (Opening(480, 720), Opening(720, 780))


def test_columns_sort_naturally_and_odd_digits_are_names() -> None:
    assert sorted_resources(["10", "9", "EXAM", "6", "¹", "10"]) == ["6", "9", "10", "EXAM", "¹"]
