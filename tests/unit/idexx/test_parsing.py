"""Parsing captured-shape IDEXX payloads into domain objects (snapshot-tested)."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pims_sync.adapters.idexx.page_data import MAX_NOTES_BYTES, parse_consultation
from pims_sync.adapters.idexx.parsing import (
    EVENT_TEXT_FIELDS,
    WALL_CLOCK_FORMATS,
    parse_calendar,
    parse_wall_clock,
    read_event,
    text,
)
from pims_sync.domain.appointments import StaffKind
from pims_sync.errors import PimsPayloadError, UnreadableEventError
from tests.unit.idexx.snapshots import assert_snapshot, load_fixture

LA = ZoneInfo("America/Los_Angeles")


class TestCalendar:
    def test_bare_array_snapshot(self) -> None:
        page = parse_calendar(load_fixture("calendar_bare_array.json"), LA)
        assert_snapshot("calendar_bare_array", page)

    def test_blocks_and_rosters_are_staff_events_never_appointments(self) -> None:
        page = parse_calendar(load_fixture("calendar_bare_array.json"), LA)
        assert (page.blocks, page.rosters, page.staff_unreadable) == (1, 1, 0)
        assert [a.appointment_id for a in page.appointments] == ["351412", "351855", "352001"]
        block = next(e for e in page.staff if e.kind is StaffKind.BLOCK)
        assert (block.event_id, block.resource_id, block.provider_name) == (
            "351700",
            "9",
            "DR. A. PATEL",
        )
        assert block.start == datetime(2026, 1, 23, 11, tzinfo=LA)
        assert block.end == datetime(2026, 1, 23, 14, tzinfo=LA)

    def test_an_unreadable_staff_event_is_counted_and_rejects_no_appointment(self) -> None:
        events = [
            {"id": 5, "start": "2026-01-22 09:00:00", "is_block": True},
            {"id": None, "start": "2026-01-22 09:00:00", "is_block": True},
            {"id": 6, "start": "not a time", "is_roster": 1},
            {"id": 7, "start": "2026-01-22 09:00:00", "is_block": True, "resourceId": {}},
            {"id": 5, "start": "2026-01-22 10:00:00", "is_block": True},
        ]
        page = parse_calendar(events, LA)
        assert [e.event_id for e in page.staff] == ["5"]
        assert page.staff[0].end - page.staff[0].start == timedelta(minutes=15)
        assert (page.staff_unreadable, page.rejected, page.listed) == (4, (), 0)

    def test_both_envelopes_give_the_same_appointments(self) -> None:
        envelope = parse_calendar(load_fixture("calendar_events_envelope.json"), LA)
        bare = parse_calendar(load_fixture("calendar_bare_array.json"), LA)
        assert envelope.appointments[0] == bare.appointments[0]
        assert envelope.blocks == 1

    @pytest.mark.parametrize("key", ["appointments", "data", "events"])
    def test_every_known_envelope_key(self, key: str) -> None:
        event = {"id": 1, "start": "2026-01-22 09:00:00", "end": "2026-01-22 09:30:00"}
        assert len(parse_calendar({key: [event]}, LA)) == 1

    def test_wall_clock_plus_clinic_zone_is_the_true_instant(self) -> None:
        page = parse_calendar(load_fixture("calendar_bare_array.json"), LA)
        first, _, after_dst = page.appointments
        assert first.start == datetime(2026, 1, 22, 17, 0, tzinfo=UTC)  # 09:00 PST
        assert after_dst.start == datetime(2026, 3, 8, 10, 30, tzinfo=UTC)  # 03:30 PDT
        assert first.duration_minutes == 15

    def test_nulls_are_tolerated(self) -> None:
        sparse = parse_calendar(load_fixture("calendar_bare_array.json"), LA).appointments[1]
        assert sparse.consultation_id is None  # 0 means "no consultation yet"
        assert sparse.status == "not arrived"
        assert sparse.provider_name == "DR. B. CHEN"
        assert sparse.room_id == "8"
        assert sparse.client.full_name == "SAM"
        assert sparse.duration_minutes == 15  # no end: the original's 15-minute default

    def test_nul_characters_are_dropped_postgres_stores_none(self) -> None:
        event = load_fixture("calendar_bare_array.json")[0]
        event = {**event, "patient_name": "BEL\x00LA", "last_name": "\x00", "reason": "a\u0000b"}
        [appointment] = parse_calendar([event], LA).appointments
        assert appointment.patient.name == "BELLA"
        assert appointment.client.last_name is None
        assert appointment.reason == "ab"

    def test_empty_list_is_an_empty_page(self) -> None:
        assert len(parse_calendar([], LA)) == 0

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ({"unexpected": 1}, "no event list"),
            ("<html>", "is a string, not a list"),
            (None, "is null, not a list"),
        ],
    )
    def test_a_payload_that_is_no_calendar_raises(self, payload: object, message: str) -> None:
        with pytest.raises(PimsPayloadError, match=message):
            parse_calendar(payload, LA)

    def test_implausible_volume_raises(self) -> None:
        events = [{"id": i, "start": "2026-01-22 09:00:00"} for i in range(11)]
        with pytest.raises(PimsPayloadError, match="more than the plausible 10"):
            parse_calendar(events, LA, max_events=10)


class TestConsultation:
    def test_full_page_data_snapshot(self) -> None:
        consultation = parse_consultation(load_fixture("consultation_728004.json"), "728004")
        assert_snapshot("consultation_728004", consultation)

    def test_notes_kept_as_html_and_as_text(self) -> None:
        consultation = parse_consultation(load_fixture("consultation_728004.json"), "728004")
        assert consultation.notes_html is not None
        assert consultation.notes_html.startswith("<p>Appointment reason")
        assert consultation.notes_text is not None
        assert consultation.notes_text.splitlines()[1] == "S: Bright, alert. Vomited 3x yesterday."

    def test_lines_split_into_accepted_and_declined(self) -> None:
        consultation = parse_consultation(load_fixture("consultation_728004.json"), "728004")
        assert [line.label for line in consultation.accepted_lines] == [
            "Examination - Sick Patient",
            "Cerenia 24mg Tablet (Qty: 3)",
        ]
        assert [line.label for line in consultation.declined_lines] == ["Abdominal Radiographs"]
        assert consultation.is_final

    def test_sparse_page_data_snapshot(self) -> None:
        consultation = parse_consultation(load_fixture("consultation_sparse.json"), "728100")
        assert_snapshot("consultation_sparse", consultation)
        assert not consultation.is_final
        assert consultation.notes_text == "Owner to call back & confirm"
        assert consultation.patient_species == "Canine"

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ([], "not an object"),
            ({"patient": {}}, "has no consultation"),
            ({"consultation": {"id": 1}}, "got 1 instead"),
            ({"consultation": {"id": 7}, "consultationLines": {"a": 1}}, "not a list"),
        ],
    )
    def test_malformed_payloads_raise(self, payload: object, message: str) -> None:
        with pytest.raises(PimsPayloadError, match=message):
            parse_consultation(payload, "7")


def good(number: int, /, hour: int = 9, **fields: object) -> dict[str, object]:
    """A readable calendar event on 2026-01-22 (clinic wall clock)."""
    event: dict[str, object] = {
        "id": number,
        "appointment_id": number,
        "start": f"2026-01-22 {hour:02}:00:00",
        "end": f"2026-01-22 {hour:02}:15:00",
        "patient_name": "PENNY",
        "phone_number": "408-555-0142",
        "is_block": False,
        "is_roster": False,
    }
    event.update(fields)
    return event


DAY = (datetime(2026, 1, 22, 8, 0, tzinfo=UTC), datetime(2026, 1, 23, 8, 0, tzinfo=UTC))
EVENT_KEYS = (*EVENT_TEXT_FIELDS, "is_block", "is_roster")
PAGE_DATA_KEYS = (
    "consultation",
    "consultationNotes",
    "consultationLines",
    "patient",
    "client",
)


def json_scalars() -> st.SearchStrategy[Any]:
    return st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=30)


def json_containers(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children)


def load_fixture_dict(name: str) -> dict[str, Any]:
    loaded = load_fixture(name)
    assert isinstance(loaded, dict)
    return loaded


class TestUnreadableEvents:
    """One bad event is rejected on its own (id kept when readable); the rest are read."""

    @pytest.mark.parametrize(
        ("bad", "appointment_id", "reason"),
        [
            (1, None, "it is a number, not an object"),
            ("text", None, "it is a string, not an object"),
            ({"start": "2026-01-22 09:00:00"}, None, "it has no appointment id"),
            (good(7, id=None, appointment_id=None), None, "it has no appointment id"),
            (good(7, id={"x": 1}, appointment_id=None), None, "id is an object, expected text"),
            (good(7, id="x" * 65, appointment_id=None), None, "its id is too long (65 characters)"),
            (good(7, start=None), "7", "it has no start time"),
            (good(7, start="tomorrow"), "7", "its start is not a YYYY-MM-DD HH:MM:SS time"),
            (good(7, start=20260122), "7", "its start is not a YYYY-MM-DD HH:MM:SS time"),
            (good(7, start=["2026-01-22 09:00:00"]), "7", "start is a list, expected text"),
            (good(7, phone_number={"mobile": "1"}), "7", "phone_number is an object"),
            (good(7, patient_name=True), "7", "patient_name is a boolean, expected text"),
            (good(7, reason="x" * 10_001), "7", "reason is too long (10001 characters)"),
            (good(7, is_block="maybe"), "7", "is_block is a string, expected true or false"),
            (good(7, is_roster=2), "7", "is_roster is a number, expected true or false"),
            (good(7, end="2026-03-30 09:00:00"), "7", "it lasts longer than 60 days"),
        ],
    )
    def test_a_bad_event_is_rejected_alone(
        self, bad: object, appointment_id: str | None, reason: str
    ) -> None:
        page = parse_calendar([good(1), bad, good(2, hour=10)], LA, window=DAY)
        assert [a.appointment_id for a in page.appointments] == ["1", "2"]
        (rejected,) = page.rejected
        assert (rejected.index, rejected.appointment_id) == (1, appointment_id)
        assert reason in rejected.reason
        assert page.listed == 3

    def test_reasons_never_echo_values(self) -> None:
        bad = [
            good(7, start="PENNY LOPEZ 408-555-0142"),
            good(8, phone_number=["408-555-0142"]),
            good(9, patient_name={"name": "PENNY"}),
            {"title": "PENNY; LOPEZ, MARIA", "start": "2026-01-22 09:00:00"},
        ]
        page = parse_calendar(bad, LA, window=DAY)
        text_of_errors = " ".join(r.describe() for r in page.rejected)
        assert len(page.rejected) == 4
        for personal in ("PENNY", "LOPEZ", "408"):
            assert personal not in text_of_errors

    def test_an_unreadable_start_keeps_no_start_so_every_window_sees_it(self) -> None:
        page = parse_calendar([good(7, start="soon")], LA, window=DAY)
        assert page.rejected[0].start is None
        later = page.overlapping(DAY[1], DAY[1].replace(day=24))
        assert [r.appointment_id for r in later.rejected] == ["7"]

    def test_a_readable_start_places_the_rejection_in_its_window(self) -> None:
        page = parse_calendar([good(7, phone_number=[1])], LA, window=DAY)
        assert page.rejected[0].start == datetime(2026, 1, 22, 17, 0, tzinfo=UTC)
        assert page.overlapping(DAY[1], DAY[1].replace(day=24)).rejected == ()

    def test_an_event_overlapping_from_the_day_before_belongs_to_both_days(self) -> None:
        earlier = good(5, start="2026-01-21 23:50:00", end="2026-01-22 00:10:00")
        broken_earlier = {**earlier, "id": 6, "appointment_id": 6, "reason": [1]}
        page = parse_calendar([earlier, broken_earlier, good(1)], LA, window=DAY)
        assert [a.appointment_id for a in page.appointments] == ["5", "1"]
        (rejected,) = page.rejected
        assert rejected.appointment_id == "6"
        assert rejected.end == datetime(2026, 1, 22, 8, 10, tzinfo=UTC)
        assert page.outside_window == 0

    def test_events_wholly_outside_the_window_are_ignored_and_counted(self) -> None:
        events = [
            good(7, start="2031-01-22 09:00:00", end="2031-01-22 09:15:00"),
            good(8, start="1999-01-22 09:00:00", end="1999-01-22 09:15:00"),
            good(9, start="2026-01-21 23:00:00", end="2026-01-22 00:00:00"),  # ends as it starts
            {**good(10, start="2026-01-23 00:00:00"), "reason": [1]},  # unreadable, outside
            good(1),
        ]
        page = parse_calendar(events, LA, window=DAY)
        assert [a.appointment_id for a in page.appointments] == ["1"]
        assert (page.rejected, page.outside_window) == ((), 4)

    def test_identical_duplicates_collapse(self) -> None:
        page = parse_calendar([good(1), good(2), good(1)], LA, window=DAY)
        assert [a.appointment_id for a in page.appointments] == ["1", "2"]
        assert page.rejected == ()

    def test_a_conflicting_duplicate_is_rejected_and_the_first_kept(self) -> None:
        page = parse_calendar([good(1), good(1, hour=11)], LA, window=DAY)
        (kept,) = page.appointments
        assert kept.start == datetime(2026, 1, 22, 17, 0, tzinfo=UTC)
        (rejected,) = page.rejected
        assert (rejected.index, rejected.appointment_id) == (1, "1")
        assert rejected.reason == "it repeats the id of event #0 with different details"

    def test_one_unreadable_event_says_why(self) -> None:
        with pytest.raises(UnreadableEventError, match="it has no start"):
            read_event({"id": 1}, LA)

    def test_non_finite_numbers_are_not_text(self) -> None:
        page = parse_calendar([good(1, phone_number=float("nan"))], LA, window=DAY)
        assert "phone_number is not a finite number" in page.rejected[0].reason


@settings(max_examples=300, deadline=None)
@given(st.lists(st.recursive(json_scalars(), json_containers, max_leaves=6), max_size=6))
def test_no_event_can_make_the_parser_raise(events: list[object]) -> None:
    """Whatever a list of events holds, each is read or rejected; nothing else happens."""
    page = parse_calendar([good(1), *events], LA, window=DAY)
    assert page.appointments[0].appointment_id == "1"
    assert len(page.appointments) + len(page.rejected) <= len(events) + 1


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(EVENT_KEYS), st.recursive(json_scalars(), json_containers, max_leaves=4)
    )
)
def test_hostile_fields_are_read_or_rejected(fields: dict[str, object]) -> None:
    page = parse_calendar([good(1), good(2, hour=10, **fields)], LA, window=DAY)
    assert page.appointments[0].appointment_id == "1"
    for appointment in page.appointments:
        assert appointment.start.tzinfo is not None


@settings(max_examples=300, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(PAGE_DATA_KEYS), st.recursive(json_scalars(), json_containers, max_leaves=6)
    )
)
def test_page_data_is_read_or_refused_with_a_payload_error(fields: dict[str, object]) -> None:
    payload = {**load_fixture_dict("consultation_728004.json"), **fields}
    try:
        consultation = parse_consultation(payload, "728004")
    except PimsPayloadError:
        return
    for line in consultation.lines:
        for value in (line.quantity, line.total_excluding_tax):
            assert value is None or math.isfinite(value)


class TestMalformedConsultation:
    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"consultation": None}, "payload has no consultation (it is null)"),
            ({"consultation": "x"}, "payload has no consultation (it is a string)"),
            ({"consultation": {"id": 7, "status": ["final"]}}, "status is a list, expected text"),
            (
                {"consultationNotes": 5},
                "consultationNotes is a number, expected an object or a list",
            ),
            ({"consultationNotes": [{"notes": 1}, True]}, "consultationNotes.1 is a boolean"),
            ({"consultationNotes": {"notes": {"html": 1}}}, "notes is an object"),
            ({"client": []}, "page-data.client is a list"),
            (
                {"consultationLines": [{"productService": "X", "isDeclined": "no"}]},
                "isDeclined is a string",
            ),
        ],
    )
    def test_wrong_types_are_refused_with_the_field_named(
        self, change: dict[str, object], message: str
    ) -> None:
        payload = {"consultation": {"id": 7}, **change}
        with pytest.raises(PimsPayloadError, match=re.escape(message)):
            parse_consultation(payload, "7")

    def test_notes_over_the_cap_are_refused_not_truncated(self) -> None:
        huge = "<p>" + "x" * MAX_NOTES_BYTES + "</p>"
        payload = {"consultation": {"id": 7}, "consultationNotes": {"notes": huge}}
        size = len(huge.encode())
        with pytest.raises(PimsPayloadError, match=rf"notes too large \({size} bytes"):
            parse_consultation(payload, "7")

    def test_notes_just_under_the_cap_are_kept_whole(self) -> None:
        notes = "é" * (MAX_NOTES_BYTES // 2)
        payload = {"consultation": {"id": 7}, "consultationNotes": {"notes": notes}}
        assert parse_consultation(payload, "7").notes_html == notes

    def test_non_finite_quantities_are_dropped(self) -> None:
        line = {"productService": "X", "quantity": float("inf"), "lineTotalExcTax": "nan"}
        payload = {"consultation": {"id": 7}, "consultationLines": [line]}
        (parsed,) = parse_consultation(payload, "7").lines
        assert (parsed.quantity, parsed.total_excluding_tax) == (None, None)


def test_an_id_sent_as_a_whole_float_is_the_same_id() -> None:
    page = parse_calendar([good(1, id=7.0, appointment_id=7.0, consultation_id=728004.0)], LA)
    (appointment,) = page.appointments
    assert (appointment.appointment_id, appointment.consultation_id) == ("7", "728004")


def test_an_id_with_a_fraction_is_no_id() -> None:
    page = parse_calendar([good(1, id=7.5, appointment_id=None)], LA, window=DAY)
    (rejected,) = page.rejected
    assert (rejected.appointment_id, rejected.reason) == (None, "it has no appointment id")


def test_appointment_id_wins_over_an_id_that_differs() -> None:
    page = parse_calendar([good(1), good(2, hour=10, appointment_id=999)], LA, window=DAY)
    assert [a.appointment_id for a in page.appointments] == ["1", "999"]
    assert page.rejected == ()


def test_an_unreadable_event_is_named_by_its_appointment_id() -> None:
    page = parse_calendar([good(2, appointment_id="999", reason=[1])], LA, window=DAY)
    assert page.rejected[0].appointment_id == "999"


def _by_strptime(raw: str) -> datetime | None:
    """The wall clock as the four formats read it, one after the other."""
    for fmt in WALL_CLOCK_FORMATS:
        try:
            return datetime.strptime(raw[:19], fmt).replace(tzinfo=LA)
        except ValueError:
            continue
    return None


WALL_CLOCK_TEXT = st.from_regex(
    r"\A[0-9]{1,4}-[0-9]{1,2}-[0-9]{1,2}[ Tx][0-9]{1,2}:[0-9]{1,2}(:[0-9]{1,2})?(\.[0-9]{0,3}|Z|)\Z"
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(WALL_CLOCK_TEXT, st.text(max_size=24)))
def test_the_fast_wall_clock_reads_what_the_formats_read(raw: str) -> None:
    """The `fromisoformat` shortcut answers exactly as the strptime formats do."""
    cleaned = text(raw)
    assert parse_wall_clock(raw, LA) == (None if cleaned is None else _by_strptime(cleaned))
