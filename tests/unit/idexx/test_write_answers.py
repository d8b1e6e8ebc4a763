"""What a write's answer says of the write, the CSRF token's places, and the booking JSON."""

from __future__ import annotations

import json
from datetime import date, datetime
from zoneinfo import ZoneInfo

import httpx
import pytest

from pims_sync.adapters.idexx.booking_shapes import (
    appointment_form,
    parse_details,
    parse_search,
    parse_view,
    patient_payload,
)
from pims_sync.adapters.idexx.csrf import token_in_cookies, token_in_page
from pims_sync.adapters.idexx.writes import WriteAnswer, judge, pims_words, transport_failure
from pims_sync.domain.pims_writes import AppointmentRequest, NewPatient, PimsClient, PimsRef
from pims_sync.errors import (
    InvalidInputError,
    PimsNotFoundError,
    PimsPayloadError,
    PimsSlotTakenError,
    PimsWriteNotSentError,
    PimsWriteOutcomeUnknownError,
    PimsWriteRefusedError,
)

LA = ZoneInfo("America/Los_Angeles")


def answer(status: int, body: bytes = b"", *, to_login: bool = False) -> WriteAnswer:
    return WriteAnswer(status, httpx.Headers(), body, to_login)


@pytest.mark.parametrize(
    ("status", "body", "needs_success", "expected"),
    [
        (200, b'{"success": true}', True, {"success": True}),
        (200, b'\xef\xbb\xbf{"success": true}', True, {"success": True}),
        (200, b"", False, None),  # a cancel is judged by its 2xx alone
        (204, b"", False, None),
    ],
)
def test_accepted_answers(status: int, body: bytes, needs_success: bool, expected: object) -> None:
    assert judge("create", answer(status, body), needs_success=needs_success) == expected


REFUSALS = [
    (200, {"success": False, "message": "Patient is inactive"}, PimsWriteRefusedError,
     "Patient is inactive"),
    (200, {"success": "false", "error": "This slot is not available"}, PimsSlotTakenError,
     "This slot is not available"),
    (400, {"success": False, "error": "Room not found", "errors": {"room": "Room not found"}},
     PimsWriteRefusedError, "Room not found"),
    (422, {"message": "The given data was invalid.", "errors": {"time": ["The time is bad."]}},
     PimsWriteRefusedError, "The given data was invalid. \u2014 time: The time is bad."),
    (409, {}, PimsSlotTakenError, ""),
    (400, {"message": "Appointment overlaps an existing booking"}, PimsSlotTakenError,
     "Appointment overlaps an existing booking"),
    (400, "<html>Bad</html>", PimsWriteRefusedError, ""),
]  # fmt: skip


@pytest.mark.parametrize(("status", "body", "error", "said"), REFUSALS)
def test_refusals_change_nothing_and_carry_the_pims_words(
    status: int, body: object, error: type[PimsWriteRefusedError], said: str
) -> None:
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    with pytest.raises(error) as caught:
        judge("create", answer(status, raw), needs_success=True)
    assert type(caught.value) is error
    assert caught.value.said == said
    assert caught.value.status == status


@pytest.mark.parametrize(
    ("status", "body", "to_login", "session", "csrf"),
    [
        (401, b"", False, True, False),
        (403, b'{"message": "CSRF token mismatch."}', False, True, True),
        (403, b'{"error": "Forbidden"}', False, True, False),
        (419, b"<html>Page Expired</html>", False, True, True),
        (302, b"", True, True, False),
        (429, b"{}", False, False, False),
    ],
)
def test_refused_sessions_and_429s_were_not_applied(
    status: int, body: bytes, to_login: bool, session: bool, csrf: bool
) -> None:
    with pytest.raises(PimsWriteNotSentError) as caught:
        judge("create", answer(status, body, to_login=to_login), needs_success=True)
    assert (caught.value.session_refused, caught.value.csrf_refused) == (session, csrf)


@pytest.mark.parametrize(
    ("status", "body"),
    [(500, b""), (502, b"<html>Bad gateway</html>"), (503, b"{}"), (504, b""), (301, b""),
     (200, b"<html>Saved</html>"), (200, b"not json")],
)  # fmt: skip
def test_answers_that_leave_the_outcome_unknown(status: int, body: bytes) -> None:
    with pytest.raises(PimsWriteOutcomeUnknownError) as caught:
        judge("create", answer(status, body), needs_success=True)
    assert "read back" in str(caught.value)


def test_a_404_is_not_found() -> None:
    with pytest.raises(PimsNotFoundError):
        judge("delete", answer(404, b'{"message": "Appointment 1 not found"}'), needs_success=False)


def test_the_pims_words_are_cut_short() -> None:
    assert len(pims_words({"message": "x" * 500})) == 120
    assert pims_words(["not", "an", "object"]) == ""


@pytest.mark.parametrize(
    ("error", "kind"),
    [
        (httpx.ConnectError("refused"), PimsWriteNotSentError),
        (httpx.ConnectTimeout("slow"), PimsWriteNotSentError),
        (httpx.PoolTimeout("busy"), PimsWriteNotSentError),
        (httpx.ReadTimeout("slow"), PimsWriteOutcomeUnknownError),
        (httpx.WriteTimeout("slow"), PimsWriteOutcomeUnknownError),
        (httpx.RemoteProtocolError("Server disconnected"), PimsWriteOutcomeUnknownError),
        (httpx.ReadError("reset"), PimsWriteOutcomeUnknownError),
    ],
)
def test_no_answer_is_not_sent_only_before_the_connection(
    error: httpx.TransportError, kind: type[Exception]
) -> None:
    assert type(transport_failure("create", error)) is kind


@pytest.mark.parametrize(
    "page",
    [
        "<html><head><meta name='csrf-token' content='tok-1'></head></html>",
        '<html><head><meta content="tok-1" name="CSRF-TOKEN"></head></html>',
        "<form><input type='hidden' name='_csrf' value='tok-1'></form>",
        "<form><input type=hidden name=csrfmiddlewaretoken value=tok-1></form>",
    ],
)
def test_the_token_is_found_where_sites_keep_it(page: str) -> None:
    assert token_in_page(page) == "tok-1"


def test_no_token_on_a_page_or_in_cookies_is_none() -> None:
    assert token_in_page("<html><meta name='viewport' content='x'></html>") is None
    assert token_in_cookies([{"name": "neo_session", "value": "s"}]) is None
    cookies = [{"name": "XSRF-TOKEN", "value": "a%3Db"}]
    assert token_in_cookies(cookies) == "a=b"  # URL-decoded, as the site set it


def test_the_create_form_is_the_clinic_wall_clock() -> None:
    start = datetime(2026, 3, 8, 17, 30, tzinfo=ZoneInfo("UTC"))  # the day clocks change in LA
    request = AppointmentRequest("41873", start, start.replace(hour=18), room_id="7")
    form = appointment_form(request, LA)
    assert form == {
        "patient_id": "41873",
        "appointment_date": "2026-03-08",
        "time": "10:30",  # 17:30 UTC is 10:30 PDT (UTC-7 since 02:00 that morning)
        "time_end": "11:30",
        "useRealEndTime": "true",
        "room": "7",
    }
    late = datetime(2026, 3, 9, 6, 30, tzinfo=ZoneInfo("UTC"))  # 23:30 in LA on the 8th
    with pytest.raises(InvalidInputError, match="same clinic day"):
        appointment_form(AppointmentRequest("1", late, late.replace(hour=8)), LA)


def test_search_reads_the_nested_shape_and_never_an_unknown_one_as_empty() -> None:
    patient = {
        "id": "48290", "name": "RYDER", "breed": {"id": "1298", "name": "French Bulldog"},
        "species": {"id": 4, "name": "Canine"}, "gender": {"id": "1", "name": "Neutered Male"},
        "age": "4 yrs 9 mos", "active": True,
        "client": {"id": 19765, "firstName": "JORDAN", "lastName": "REYES",
                   "homePhone": None, "mobilePhone": "619-555-0199"},
    }  # fmt: skip
    payload = {
        "results": {
            "patients": {"data": [], "objects": [patient]},
            "suggested": {"objects": [patient, {"id": 7, "name": "Ghost"}]},
        }
    }
    matches = parse_search(payload, 10)
    assert [m.patient_id for m in matches] == ["48290", "7"]  # once each, suggested first
    first = matches[0]
    assert first.patient.species == PimsRef("4", "Canine")
    assert first.client is not None
    assert (first.client.id, first.client.phones) == ("19765", ("619-555-0199",))
    assert "RYDER" not in repr(first)
    assert "REYES" not in repr(first.client)
    assert parse_search(payload, 1)[0].patient_id == "48290"
    with pytest.raises(PimsPayloadError):
        parse_search({"patients": []}, 10)


def test_details_say_cancelled_and_refuse_another_id() -> None:
    raw = {
        "appointment": {
            "id": "351855", "status": "not arrived", "startAtLocal": "2026-01-28 15:15:00",
            "endAtLocal": "2026-01-28 15:30:00", "deleted": True, "block": False,
            "patient": {"id": 50081, "client": {"id": 20691}},
            "appointmentType": {"id": 1008}, "appointmentRoom": {"id": 8},
            "provider": {"id": 1000}, "cancelledReason": "Owner called",
        }
    }  # fmt: skip
    details = parse_details(raw, "351855", LA)
    assert details.cancelled
    assert details.start == datetime(2026, 1, 28, 15, 15, tzinfo=LA)
    ids = (details.patient_id, details.client_id, details.room_id, details.provider_id)
    assert ids == ("50081", "20691", "8", "1000")
    assert "Owner" not in repr(details)
    with pytest.raises(PimsPayloadError):
        parse_details(raw, "351856", LA)
    with pytest.raises(PimsNotFoundError):
        parse_details({"success": False}, "351855", LA)


def test_the_view_needs_its_lists() -> None:
    view = parse_view(
        {
            "slotInterval": 15,
            "businessHours": [{"daysOfWeek": [1, 2], "startTime": "08:00", "endTime": "19:00"}],
            "appointmentTypes": [{"id": 1001, "name": "Exam", "duration": 1}, {"id": 9}],
            "appointmentRooms": [{"id": "7", "name": "ROOM 1", "position": 1}],
            "providers": [{"id": 2, "name": "Front Desk", "provider": True}],
        }
    )
    assert [t.id for t in view.types] == ["1001"]  # an entry without a name cannot be booked
    assert view.room("7") is not None
    assert view.slot_minutes == 15
    assert view.business_hours[0].weekdays == frozenset({1, 2})
    with pytest.raises(PimsPayloadError):
        parse_view({"appointmentTypes": []})


def test_the_patient_payload_names_its_owner() -> None:
    client = PimsClient("90001", "Robin", "Quayle", mobile_phone="408-555-0100")
    new = NewPatient("Biscuit", species=PimsRef("4", "Canine"), breed=PimsRef(None, "Mixed"),
                     date_of_birth=date(2024, 5, 1))  # fmt: skip
    payload = patient_payload(new, client)
    assert payload["client"]["id"] == "90001"
    assert payload["species"] == {"id": "4", "name": "Canine"}
    assert payload["breed"] == {"name": "Mixed"}
    assert payload["dob"] == "2024-05-01"
