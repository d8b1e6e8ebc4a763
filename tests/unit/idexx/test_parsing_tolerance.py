"""What the real IDEXX Neo may send and the original client read: read, and counted."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest

from pims_sync.adapters.idexx.page_data import MAX_NOTES_BYTES, parse_consultation
from pims_sync.adapters.idexx.parsing import parse_calendar
from pims_sync.domain.cases import CaseStatus, is_known_status, map_status
from pims_sync.errors import PimsPayloadError
from tests.unit.idexx.test_parsing import DAY, LA, good


def one(event: dict[str, object]) -> tuple[str, int]:
    """The appointment id an event is read under, and how many of its fields were coerced."""
    page = parse_calendar([event], LA, window=DAY)
    assert page.rejected == ()
    (appointment,) = page.appointments
    return appointment.appointment_id, page.coerced


class TestCalendarIds:
    def test_string_ids_are_the_same_ids_as_numbers_and_are_counted(self) -> None:
        as_numbers = parse_calendar([good(351412, consultation_id=728004)], LA).appointments
        strings = good(
            351412,
            id="351412",
            appointment_id="351412",
            consultation_id="728004",
            patient_id="41873",
            client_id="17342.0",
            appointment_room_id="9",
        )
        page = parse_calendar([strings], LA, window=DAY)
        (appointment,) = page.appointments
        assert appointment.appointment_id == as_numbers[0].appointment_id == "351412"
        assert appointment.consultation_id == "728004"
        assert (appointment.patient.id, appointment.client.id) == ("41873", "17342")
        assert appointment.room_id == "9"
        assert page.coerced == 6

    @pytest.mark.parametrize(
        ("ids", "expected"),
        [
            ({"appointment_id": 500, "id": 7}, "500"),
            ({"appointment_id": "500", "id": "x-7"}, "500"),
            ({"appointment_id": None, "id": "7"}, "7"),
            ({"appointment_id": "", "id": 7}, "7"),
            ({"appointment_id": "A-500"}, "A-500"),  # not a number: kept as given
        ],
    )
    def test_appointment_id_wins_and_id_stands_in_only_when_it_is_missing(
        self, ids: dict[str, object], expected: str
    ) -> None:
        event = {key: value for key, value in good(1).items() if key not in ("id",)}
        assert one({**event, **ids})[0] == expected

    def test_a_consultation_id_of_zero_as_text_is_no_consultation(self) -> None:
        page = parse_calendar([good(1, consultation_id="0")], LA)
        assert page.appointments[0].consultation_id is None

    def test_numbers_in_text_fields_are_read_as_text_and_counted(self) -> None:
        event = good(1, resourceId=9, type_description=42, reason=1.5)
        page = parse_calendar([event], LA, window=DAY)
        (appointment,) = page.appointments
        assert (appointment.room_id, appointment.type_description) == ("9", "42")
        assert appointment.reason == "1.5"
        assert page.coerced == 3


class TestCalendarFlags:
    @pytest.mark.parametrize(
        ("value", "dropped", "coerced"),
        [
            (True, True, 0),
            (False, False, 0),
            (None, False, 0),
            (1, True, 1),
            (0, False, 1),
            ("1", True, 1),
            ("0", False, 1),
            ("true", True, 1),
            ("false", False, 1),
            (" TRUE ", True, 1),
            ("False", False, 1),
        ],
    )
    def test_flags_accept_what_the_original_accepted(
        self, value: object, dropped: bool, coerced: int
    ) -> None:
        page = parse_calendar([good(1, is_block=value, is_roster=False)], LA, window=DAY)
        assert (page.blocks, len(page.appointments)) == (int(dropped), int(not dropped))
        assert page.coerced == coerced
        assert page.rejected == ()

    @pytest.mark.parametrize("value", ["yes", "", 2, 0.5, [], {}])
    def test_anything_else_still_makes_the_event_unreadable(self, value: object) -> None:
        page = parse_calendar([good(1, is_roster=value)], LA, window=DAY)
        (rejected,) = page.rejected
        assert rejected.reason.startswith("is_roster is ")
        assert rejected.reason.endswith("expected true or false")


@pytest.mark.parametrize(
    ("status", "case_status"),
    [
        ("not arrived", CaseStatus.DRAFT),
        ("Not Arrived", CaseStatus.DRAFT),
        ("NOT_ARRIVED", CaseStatus.DRAFT),
        ("FINALIZED", CaseStatus.COMPLETED),
        ("finalized", CaseStatus.COMPLETED),
        ("In Progress", CaseStatus.ONGOING),
        ("no show", CaseStatus.REVIEWED),
    ],
)
def test_statuses_in_any_case_map_as_before_and_are_kept_raw(
    status: str, case_status: CaseStatus
) -> None:
    page = parse_calendar([good(1, current_status=status)], LA, window=DAY)
    (appointment,) = page.appointments
    assert appointment.status == status
    assert map_status(appointment.status) is case_status
    assert is_known_status(appointment.status)


class TestCalendarWindow:
    def test_a_boarding_stay_that_began_three_days_before_is_the_windows(self) -> None:
        stay = good(
            40,
            start="2026-01-19 08:00:00",
            end="2026-01-23 08:00:00",
            type_description="Boarding",
        )
        page = parse_calendar([stay, good(1)], LA, window=DAY)
        assert [a.appointment_id for a in page.appointments] == ["40", "1"]
        boarding = page.appointments[0]
        assert boarding.start == datetime(2026, 1, 19, 16, 0, tzinfo=UTC)  # its true start
        assert boarding.end == datetime(2026, 1, 23, 16, 0, tzinfo=UTC)
        assert (page.outside_window, page.rejected) == (0, ())

    def test_a_stay_of_sixty_days_is_kept_and_a_longer_event_rejected(self) -> None:
        longest = good(1, start="2025-11-24 09:00:00", end="2026-01-23 09:00:00")
        longer = good(2, start="2025-11-24 08:59:00", end="2026-01-23 09:00:00")
        page = parse_calendar([longest, longer], LA, window=DAY)
        assert [a.appointment_id for a in page.appointments] == ["1"]
        (rejected,) = page.rejected
        assert (rejected.appointment_id, rejected.reason) == ("2", "it lasts longer than 60 days")

    def test_outside_events_are_not_part_of_the_rejections(self) -> None:
        far = [good(i, start="2026-02-22 09:00:00", end="2026-02-22 09:30:00") for i in range(5)]
        page = parse_calendar([*far, good(99)], LA, window=DAY)
        assert (len(page.appointments), len(page.rejected), page.outside_window) == (1, 0, 5)
        assert page.listed == 1


# --- page-data ------------------------------------------------------------------------


def consultation(**page: object) -> dict[str, object]:
    return {"consultation": {"id": 728004, "status": "completed"}, **page}


class TestPageDataNotes:
    def test_a_list_of_notes_is_joined_in_order_with_a_blank_line(self) -> None:
        notes = [{"notes": "<p>S: bright</p>"}, {"notes": None}, {"notes": "<p>A: ok</p>"}]
        parsed = parse_consultation(consultation(consultationNotes=notes), "728004")
        assert parsed.notes_html == "<p>S: bright</p>\n\n<p>A: ok</p>"
        assert parsed.notes_text == "S: bright\nA: ok"

    def test_a_list_may_hold_plain_strings_and_nulls(self) -> None:
        parsed = parse_consultation(consultation(consultationNotes=["one", None, "two"]), "728004")
        assert parsed.notes_html == "one\n\ntwo"

    def test_notes_as_a_string_are_the_note(self) -> None:
        parsed = parse_consultation(consultation(consultationNotes="<p>Plan</p>"), "728004")
        assert (parsed.notes_html, parsed.notes_text) == ("<p>Plan</p>", "Plan")

    @pytest.mark.parametrize("empty", [None, [], {}, "", [{"notes": ""}]])
    def test_no_notes_in_any_shape_is_none(self, empty: object) -> None:
        parsed = parse_consultation(consultation(consultationNotes=empty), "728004")
        assert (parsed.notes_html, parsed.notes_text) == (None, None)

    def test_discharge_only_notes_are_kept_as_the_discharge_summary(self) -> None:
        page = {"consultation": {"id": 7, "status": "completed", "dischargeSummary": "<p>Rest</p>"}}
        parsed = parse_consultation(page, "7")
        assert (parsed.notes_html, parsed.notes) == (None, None)
        assert parsed.discharge_summary == "<p>Rest</p>"
        assert parsed.notes_text == "Rest"

    def test_each_note_is_kept_where_it_was_found(self) -> None:
        page = {
            "consultation": {"id": 7, "notes": "plain", "dischargeSummary": "home"},
            "consultationNotes": {"notes": "<p>soap</p>"},
        }
        parsed = parse_consultation(page, "7")
        assert (parsed.notes_html, parsed.notes, parsed.discharge_summary) == (
            "<p>soap</p>",
            "plain",
            "home",
        )
        assert parsed.notes_text == "soap"  # the clinical note first

    def test_consultation_notes_come_before_the_discharge_summary_for_the_text(self) -> None:
        page = {"consultation": {"id": 7, "notes": "", "dischargeSummary": "home"}}
        assert parse_consultation(page, "7").notes_text == "home"
        page["consultation"]["notes"] = "<b>plain</b>"  # type: ignore[index]
        assert parse_consultation(page, "7").notes_text == "plain"

    def test_joined_notes_over_the_cap_are_refused(self) -> None:
        half = "x" * (MAX_NOTES_BYTES // 2 + 1)
        notes = [{"notes": half}, {"notes": half}]
        with pytest.raises(PimsPayloadError, match=re.escape("consultationNotes too large")):
            parse_consultation(consultation(consultationNotes=notes), "728004")


class TestPageDataIds:
    @pytest.mark.parametrize("returned", [728004, "728004", 728004.0, " 728004 ", None])
    def test_the_id_may_be_a_number_a_string_or_missing(self, returned: object) -> None:
        page = {"consultation": {"id": returned, "status": "completed"}}
        assert parse_consultation(page, "728004").id == "728004"

    def test_a_missing_id_key_means_the_id_asked_for(self) -> None:
        assert parse_consultation({"consultation": {"status": "x"}}, "728004").id == "728004"

    @pytest.mark.parametrize("returned", [728005, "728005", "abc"])
    def test_another_id_is_still_refused(self, returned: object) -> None:
        with pytest.raises(PimsPayloadError, match="asked for consultation 728004, got"):
            parse_consultation({"consultation": {"id": returned}}, "728004")

    def test_unknown_fields_are_ignored(self) -> None:
        page = {
            "consultation": {"id": "7", "status": "completed", "newField": {"a": [1]}},
            "somethingNew": [1, 2, {"x": None}],
            "vitalSignGroup": {"weight": 3},
        }
        parsed = parse_consultation(page, "7")
        assert (parsed.id, parsed.is_final) == ("7", True)
