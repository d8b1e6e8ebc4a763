"""The doctor's shape analysis (pure): envelopes, field types, enumerated values, traits."""

from __future__ import annotations

import json
from datetime import date
from zoneinfo import ZoneInfo

import pytest

from pims_sync.adapters.idexx.shape import (
    calendar_shape,
    consultation_ids,
    page_data_shape,
    read_body,
    spread,
)

ZONE = ZoneInfo("America/Los_Angeles")
DAY = date(2026, 3, 10)
PERSONAL = ("PENNY", "MARIA", "LOPEZ", "maria.lopez@example.com", "408-555-0142", "VOMITING")


def _event(**changes: object) -> dict[str, object]:
    event: dict[str, object] = {
        "id": 351412,
        "appointment_id": 351412,
        "consultation_id": 728004,
        "start": "2026-03-10 09:00:00",
        "end": "2026-03-10 09:15:00",
        "patient_name": "PENNY",
        "first_name": "MARIA",
        "last_name": "LOPEZ",
        "email": "maria.lopez@example.com",
        "phone_number": "408-555-0142",
        "title": "PENNY; LOPEZ, MARIA",
        "reason": "VOMITING X2 DAYS",
        "type_description": "Exam",
        "current_status": "Finalized",
        "status_label": "Finalized",
        "status_class": "finalized",
        "confirmed_status": "confirmed",
        "is_block": False,
        "is_roster": False,
        "arrival_date_time": None,
    }
    event.update(changes)
    return event


@pytest.mark.parametrize(
    ("body", "kind", "envelope", "readable"),
    [
        (b"[]", "json", "bare array", True),
        (b'{"events": []}', "json", "{events}", True),
        (b'{"appointments": []}', "json", "{appointments}", True),
        (b'{"data": []}', "json", "{data}", True),
        (b'{"success": false, "message": "x"}', "json", '{"success": false} refusal', False),
        (b'{"rows": []}', "json", "object without an event list", False),
        (b'"text"', "json", "unexpected JSON string", False),
        (b"  <html><body>Login</body></html>", "html", None, False),
        (b"nonsense", "not JSON", None, False),
        (b"", "empty", None, False),
    ],
)
def test_envelopes(body: bytes, kind: str, envelope: str | None, readable: bool) -> None:
    found, data = read_body(body)
    assert found == kind
    if envelope is not None:
        shape = calendar_shape(data, DAY, ZONE)
        assert shape.envelope == envelope
        assert shape.readable is readable
        assert ("calendar in an envelope" in shape.traits) is (
            readable and envelope != "bare array"
        )


def test_fields_types_null_rates_and_only_enumerated_values() -> None:
    events = [_event(), _event(id=2, appointment_id=2, consultation_id=None, type_description=None)]
    shape = calendar_shape(events, DAY, ZONE)
    assert shape.events == 2
    assert shape.fields["consultation_id"].types == {"number", "null"}
    assert shape.fields["consultation_id"].null_rate() == 0.5
    assert shape.fields["email"].types == {"string"}
    assert shape.values == {
        "current_status": {"Finalized"},
        "status_label": {"Finalized"},
        "status_class": {"finalized"},
        "confirmed_status": {"confirmed"},
        "type_description": {"Exam"},
    }
    assert shape.traits == set()
    dumped = json.dumps([sorted(shape.fields), sorted(map(sorted, shape.values.values()))])
    assert not [value for value in PERSONAL if value in dumped]


def test_traits_of_the_wild_calendar() -> None:
    events = [
        _event(id="ev-1", appointment_id="1", is_block=0, is_roster="0"),
        _event(current_status="not arrived", status_label="not arrived", patient_name="Penny"),
        _event(current_status="FINALIZED", start="2026-03-07 08:00:00", end="2026-03-10 17:00:00"),
        _event(start="2026-03-12 08:00:00", end="2026-03-12 09:00:00"),
    ]
    shape = calendar_shape(events, DAY, ZONE)
    assert shape.traits == {
        "string ids",
        "id differs from appointment_id",
        "flags as 0/1",
        "lower-case statuses",
        "upper-case statuses",
        "mixed-case names",
        "multi-day stays",
        "events outside the day",
    }
    assert shape.counts["started before the day"] == 1
    assert shape.counts["outside the day"] == 1
    assert shape.counts["flags as numbers"] == shape.counts["flags as strings"] == 1


def test_a_stay_that_goes_on_after_the_day_is_multi_day() -> None:
    shape = calendar_shape([_event(end="2026-03-13 17:00:00")], DAY, ZONE)
    assert shape.traits == {"multi-day stays"}
    assert shape.counts["ends after the day"] == 1


def test_equal_ids_in_different_types_are_not_unequal() -> None:
    shape = calendar_shape([_event(id="351412")], DAY, ZONE)
    assert shape.traits == {"string ids"}


@pytest.mark.parametrize(
    ("page", "places", "traits"),
    [
        ({"consultationNotes": {"notes": "<p>x</p>"}}, ["consultationNotes.notes"], set()),
        (
            {"consultationNotes": [{"notes": "<p>x</p>"}]},
            ["consultationNotes (list)"],
            {"consultationNotes as a list"},
        ),
        (
            {"consultationNotes": "<p>x</p>"},
            ["consultationNotes (string)"],
            {"consultationNotes as a string"},
        ),
        (
            {"consultation": {"id": 1, "dischargeSummary": "Go home."}},
            ["consultation.dischargeSummary"],
            {"notes only in dischargeSummary"},
        ),
        (
            {"consultation": {"id": 1, "notes": "SOAP"}, "consultationNotes": {"notes": ""}},
            ["consultation.notes"],
            {"notes in consultation.notes"},
        ),
        ({"consultationNotes": None}, ["none"], set()),
    ],
)
def test_where_the_notes_are(page: dict[str, object], places: list[str], traits: set[str]) -> None:
    page = {"consultation": {"id": 728004, "notes": ""}, **page}
    shape = page_data_shape(page)
    assert shape.notes_found_in == places
    assert shape.traits == traits
    assert "consultation" in shape.top_keys


def test_page_data_keys_are_names_and_types_only() -> None:
    shape = page_data_shape(
        {
            "consultation": {"id": "728004", "reason": "VOMITING", "notes": ""},
            "client": {"firstName": "MARIA", "email": "maria.lopez@example.com"},
        }
    )
    assert shape.top_keys == {"consultation": {"object"}, "client": {"object"}}
    assert shape.consultation_keys == {"id": {"string"}, "reason": {"string"}, "notes": {"string"}}
    assert "consultation id as a string or missing" in shape.traits


def test_consultation_ids_and_spread() -> None:
    events: list[object] = [_event(consultation_id=c) for c in (5, "6", None, 5, 7, 8, 9)]
    assert consultation_ids([*events, "not an event"]) == ["5", "6", "7", "8", "9"]
    assert spread(["5", "6", "7", "8", "9"], 3) == ["5", "7", "9"]
    assert spread(["5", "6"], 3) == ["5", "6"]
