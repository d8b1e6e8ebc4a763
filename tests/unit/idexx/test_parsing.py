"""Parsing captured-shape IDEXX payloads into domain objects (snapshot-tested)."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from pims_sync.adapters.idexx.parsing import parse_calendar, parse_consultation
from pims_sync.errors import PimsPayloadError
from tests.unit.idexx.snapshots import assert_snapshot, load_fixture

LA = ZoneInfo("America/Los_Angeles")


class TestCalendar:
    def test_bare_array_snapshot(self) -> None:
        page = parse_calendar(load_fixture("calendar_bare_array.json"), LA)
        assert_snapshot("calendar_bare_array", page)

    def test_blocks_and_rosters_are_dropped_but_counted(self) -> None:
        page = parse_calendar(load_fixture("calendar_bare_array.json"), LA)
        assert (page.blocks_dropped, page.rosters_dropped) == (1, 1)
        assert [a.appointment_id for a in page.appointments] == ["351412", "351855", "352001"]

    def test_both_envelopes_give_the_same_appointments(self) -> None:
        envelope = parse_calendar(load_fixture("calendar_events_envelope.json"), LA)
        bare = parse_calendar(load_fixture("calendar_bare_array.json"), LA)
        assert envelope.appointments[0] == bare.appointments[0]
        assert envelope.blocks_dropped == 1

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

    def test_empty_list_is_an_empty_page(self) -> None:
        assert len(parse_calendar([], LA)) == 0

    @pytest.mark.parametrize(
        ("payload", "message"),
        [
            ({"unexpected": 1}, "no event list"),
            ("<html>", "not a list"),
            ([1], "not an object"),
            ([{"start": "2026-01-22 09:00:00"}], "no appointment id"),
            ([{"id": 5, "start": None}], "no readable start"),
            ([{"id": 5, "start": "tomorrow"}], "no readable start"),
        ],
    )
    def test_malformed_payloads_raise(self, payload: object, message: str) -> None:
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
