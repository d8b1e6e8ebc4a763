"""The shape of IDEXX Neo answers, for `pims-sync doctor`: field names, JSON types, traits.

Only structure leaves this module: names of fields and keys, JSON types, counts and rates,
and the values of a few enumerated fields (`VALUE_FIELDS`: statuses, appointment types).
Never the value of any other field: those may be names, phones, e-mails or clinical notes.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pims_sync.adapters.idexx import trace as login_trace
from pims_sync.adapters.idexx.parsing import kind, parse_wall_clock

STATUS_FIELDS = ("current_status", "status_label", "status_class", "confirmed_status")
TYPE_FIELDS = ("type_description",)
# The only fields whose values a report may show.
VALUE_FIELDS = STATUS_FIELDS + TYPE_FIELDS
MAX_VALUE_CHARS = 60
MAX_VALUES = 40
ID_FIELDS = ("id", "appointment_id", "consultation_id")
FLAG_FIELDS = (
    "is_block",
    "is_roster",
    "recurring",
    "darkFont",
    "is_valid_mobile_phone",
    "is_unmatched",
    "audit_incomplete",
)
NAME_FIELDS = ("patient_name", "first_name", "last_name")
CASED_STATUS_FIELDS = ("current_status", "status_label")
ENVELOPES = ("appointments", "data", "events")
# parsing.kind's names that are not "a <JSON type>".
JSON_NAMES = {"a list": "array", "an object": "object"}
READABLE_ENVELOPES = ("bare array", *("{" + key + "}" for key in ENVELOPES))

# Every trait the doctor knows, with what it means; the report lists those it met.
TRAITS = {
    "login form drawn by script": "the username field appeared only after the page's scripts ran",
    "hidden CSRF field": "the login form posts a hidden token field back (CSRF)",
    "hidden form fields": "the login form posts hidden fields back",
    "redirect chain after login": "the login went through several redirects to its landing page",
    "code-like input on landing page": "the landing page has a search/code input (not 2FA)",
    "network never idle": "the login page kept loading; the login went on after a wait",
    "JSON served as text/html": "a JSON answer was labelled text/html",
    "string ids": "event or consultation ids came as strings, not numbers",
    "id differs from appointment_id": "an event's `id` is not its `appointment_id`",
    "flags as 0/1": 'true/false flags came as numbers or strings (0/1, "0"/"1")',
    "lower-case statuses": "status values in lower case (e.g. `not arrived`)",
    "upper-case statuses": "status values in upper case (e.g. `FINALIZED`)",
    "mixed-case names": "patient/client names not in upper case",
    "multi-day stays": "events over several days, e.g. boarding or hospital stays",
    "events outside the day": "events that neither start nor end on the day asked",
    "calendar in an envelope": "the event list came wrapped in an object, not a bare array",
    "notes only in dischargeSummary": "a consultation's note was only in its discharge summary",
    "notes in consultation.notes": "a consultation's note was in `consultation.notes`",
    "consultationNotes as a list": "`consultationNotes` was a list of notes",
    "consultationNotes as a string": "`consultationNotes` was a string",
    "consultation not ready (200 success:false)": "page-data refused with 200 `success: false`",
    "consultation not found (404)": "page-data answered 404 for a consultation of the calendar",
    "consultation id as a string or missing": "`consultation.id` was a string or absent",
}


# The login's own trait names (trace.py) as the report shows them.
LOGIN_TRAITS = {
    login_trace.FORM_DRAWN_LATE: "login form drawn by script",
    login_trace.HIDDEN_FORM_FIELDS: "hidden form fields",
    login_trace.REDIRECT_CHAIN: "redirect chain after login",
    login_trace.CODE_INPUT_ON_LANDING: "code-like input on landing page",
    login_trace.NETWORK_NEVER_IDLE: "network never idle",
}
CSRF_MARKERS = ("csrf", "xsrf", "token")


def login_traits(trace: login_trace.LoginTrace) -> set[str]:
    """The login trace's traits under the report's names."""
    traits = {LOGIN_TRAITS.get(name, name) for name in trace.traits}
    if any(marker in name.lower() for name in trace.hidden_fields for marker in CSRF_MARKERS):
        traits.discard("hidden form fields")
        traits.add("hidden CSRF field")
    return traits


def explain(trait: str) -> str:
    """What a trait means (a trait reported by the login code may be new here)."""
    return TRAITS.get(trait, trait)


def json_type(value: object) -> str:
    """The JSON type name of a parsed value (`null`, `boolean`, `number`, `string`, …)."""
    name = kind(value)
    return JSON_NAMES.get(name, name.removeprefix("a "))


def read_body(raw: bytes) -> tuple[str, object]:
    """What a body is by its content ("json", "html", "not JSON", "empty") and the JSON."""
    body = raw.strip()
    if not body:
        return "empty", None
    if body[:1] == b"<":
        return "html", None
    try:
        return "json", json.loads(body)
    except (ValueError, RecursionError):
        return "not JSON", None


def key_types(data: Mapping[str, object]) -> dict[str, set[str]]:
    """Each key of an object with its JSON type."""
    return {str(key): {json_type(value)} for key, value in data.items()}


def merge_types(into: dict[str, set[str]], more: dict[str, set[str]]) -> None:
    """Add `more`'s key types into `into`."""
    for key, types in more.items():
        into.setdefault(key, set()).update(types)


@dataclass
class FieldShape:
    """One event field: its JSON types, in how many events it appeared, how often null."""

    types: set[str] = field(default_factory=set)
    present: int = 0
    nulls: int = 0

    def null_rate(self) -> float:
        """Share of the events carrying this field where it was null."""
        return round(self.nulls / self.present, 3) if self.present else 0.0


@dataclass
class CalendarShape:
    """A calendar answer's shape: envelope, fields and types, enumerated values, oddities."""

    envelope: str
    envelope_keys: list[str] = field(default_factory=list)
    events: int = 0
    not_objects: int = 0
    fields: dict[str, FieldShape] = field(default_factory=dict)
    values: dict[str, set[str]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    traits: set[str] = field(default_factory=set)

    @property
    def readable(self) -> bool:
        """Whether the answer held an event list."""
        return self.envelope in READABLE_ENVELOPES


def calendar_list(data: object) -> tuple[str, list[object] | None, list[str]]:
    """The envelope kind, the event list (if any) and an object's top-level keys."""
    if isinstance(data, list):
        return "bare array", data, []
    if not isinstance(data, Mapping):
        return f"unexpected JSON {json_type(data)}", None, []
    keys = sorted(str(key) for key in data)
    if data.get("success") is False:
        return '{"success": false} refusal', None, keys
    for key in ENVELOPES:
        events = data.get(key)
        if isinstance(events, list):
            return "{" + key + "}", events, keys
    return "object without an event list", None, keys


def calendar_shape(data: object, day: date, zone: ZoneInfo) -> CalendarShape:
    """The shape of a parsed calendar answer for `day` (clinic wall clock in `zone`)."""
    envelope, events, keys = calendar_list(data)
    shape = CalendarShape(envelope=envelope, envelope_keys=keys)
    if events is None:
        return shape
    if envelope != "bare array":
        shape.traits.add("calendar in an envelope")
    first = datetime.combine(day, time(), zone)
    bounds = (first, first + timedelta(days=1))
    for event in events:
        if isinstance(event, Mapping):
            _add_event(shape, event, bounds, zone)
        else:
            shape.not_objects += 1
    shape.events = len(events)
    shape.traits |= _calendar_traits(shape.counts)
    return shape


def _add_event(
    shape: CalendarShape,
    event: Mapping[str, object],
    bounds: tuple[datetime, datetime],
    zone: ZoneInfo,
) -> None:
    for key, value in event.items():
        entry = shape.fields.setdefault(str(key), FieldShape())
        entry.types.add(json_type(value))
        entry.present += 1
        entry.nulls += value is None
    for key in VALUE_FIELDS:
        value = event.get(key)
        if isinstance(value, str | int | float) and not isinstance(value, bool):
            values = shape.values.setdefault(key, set())
            if len(values) < MAX_VALUES:
                values.add(str(value)[:MAX_VALUE_CHARS])
    shape.counts.update(_id_marks(event))
    shape.counts.update(_case_marks(event))
    shape.counts.update(_time_marks(event, bounds, zone))


def _id_marks(event: Mapping[str, object]) -> set[str]:
    marks = {f"string {key}" for key in ID_FIELDS if isinstance(event.get(key), str)}
    own, appointment = event.get("id"), event.get("appointment_id")
    if own is not None and appointment is not None and str(own) != str(appointment):
        marks.add("id differs from appointment_id")
    for key in FLAG_FIELDS:
        value = event.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            marks.add("flags as numbers")
        elif isinstance(value, str):
            marks.add("flags as strings")
    return marks


def _letter_case(value: object) -> str | None:
    if not isinstance(value, str) or value.lower() == value.upper():
        return None
    if value == value.lower():
        return "lower"
    return "upper" if value == value.upper() else "mixed"


def _case_marks(event: Mapping[str, object]) -> set[str]:
    marks = set()
    for key in CASED_STATUS_FIELDS:
        case = _letter_case(event.get(key))
        if case is not None:
            marks.add(f"{case}-case statuses")
    for key in NAME_FIELDS:
        case = _letter_case(event.get(key))
        if case is not None:
            marks.add(f"{case}-case names")
    return marks


def _time_marks(
    event: Mapping[str, object], bounds: tuple[datetime, datetime], zone: ZoneInfo
) -> list[str]:
    start = parse_wall_clock(event.get("start"), zone)
    end = parse_wall_clock(event.get("end"), zone) or start
    if start is None or end is None:
        return ["unreadable start or end"]
    first, after = bounds
    if end < first or start >= after:
        return ["outside the day"]
    marks = []
    if start < first:
        marks.append("started before the day")
    if end > after:
        marks.append("ends after the day")
    return marks


def _calendar_traits(counts: Counter[str]) -> set[str]:
    traits = set()
    if any(counts[f"string {key}"] for key in ID_FIELDS):
        traits.add("string ids")
    if counts["id differs from appointment_id"]:
        traits.add("id differs from appointment_id")
    if counts["flags as numbers"] or counts["flags as strings"]:
        traits.add("flags as 0/1")
    for case in ("lower", "upper"):
        if counts[f"{case}-case statuses"]:
            traits.add(f"{case}-case statuses")
    if counts["mixed-case names"] or counts["lower-case names"]:
        traits.add("mixed-case names")
    if counts["started before the day"] or counts["ends after the day"]:
        traits.add("multi-day stays")
    if counts["outside the day"]:
        traits.add("events outside the day")
    return traits


def consultation_ids(events: list[object]) -> list[str]:
    """The distinct consultation ids of a calendar's events, in order."""
    found: dict[str, None] = {}
    for event in events:
        if isinstance(event, Mapping):
            value = event.get("consultation_id")
            if isinstance(value, str | int) and not isinstance(value, bool) and str(value):
                found[str(value)] = None
    return list(found)


def spread(items: Sequence[str], count: int) -> list[str]:
    """Up to `count` items spread evenly over the sequence (first, middle, last...)."""
    if len(items) <= count or count < 2:
        return list(items[:count])
    return [items[index * (len(items) - 1) // (count - 1)] for index in range(count)]


@dataclass
class PageDataShape:
    """One consultation's page-data: top-level keys, `consultation` keys, where the notes are."""

    top_keys: dict[str, set[str]] = field(default_factory=dict)
    consultation_keys: dict[str, set[str]] = field(default_factory=dict)
    notes_found_in: list[str] = field(default_factory=list)
    traits: set[str] = field(default_factory=set)


def page_data_shape(data: Mapping[str, object]) -> PageDataShape:
    """The shape of one consultation's page-data object."""
    shape = PageDataShape(top_keys=key_types(data))
    consultation = data.get("consultation")
    inner = consultation if isinstance(consultation, Mapping) else {}
    shape.consultation_keys = key_types(inner)
    if not isinstance(inner.get("id"), int | float) or isinstance(inner.get("id"), bool):
        shape.traits.add("consultation id as a string or missing")
    shape.notes_found_in = _notes_places(data.get("consultationNotes"), inner) or ["none"]
    places = set(shape.notes_found_in)
    if places == {"consultation.dischargeSummary"}:
        shape.traits.add("notes only in dischargeSummary")
    if "consultation.notes" in places:
        shape.traits.add("notes in consultation.notes")
    if "consultationNotes (list)" in places:
        shape.traits.add("consultationNotes as a list")
    if "consultationNotes (string)" in places:
        shape.traits.add("consultationNotes as a string")
    return shape


def _notes_places(section: object, consultation: Mapping[str, object]) -> list[str]:
    places = []
    if isinstance(section, Mapping) and _has_text(section.get("notes")):
        places.append("consultationNotes.notes")
    elif isinstance(section, list) and section:
        places.append("consultationNotes (list)")
    elif _has_text(section):
        places.append("consultationNotes (string)")
    for key in ("notes", "dischargeSummary"):
        if _has_text(consultation.get(key)):
            places.append(f"consultation.{key}")
    return places


def _has_text(value: object) -> bool:
    return isinstance(value, str) and bool(value.strip())
