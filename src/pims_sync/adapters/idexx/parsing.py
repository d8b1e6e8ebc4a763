"""IDEXX Neo calendar JSON → appointments; pure, tolerant of types, strict about shapes.

A calendar event that cannot be read is rejected on its own (`CalendarPage.rejected`, with
its id when readable) and the others are kept; only a payload that is not a calendar at
all raises. Reasons name fields, types and sizes, never the values (they may be people's).

Tolerated as the original client tolerated them (and counted in `CalendarPage.coerced`):
ids and room ids as strings, text fields as numbers, flags as 0/1, "0"/"1", "true"/"false".
`appointment_id` wins over `id`. Events that overlap the window asked for are its
appointments (a boarding stay that began days before included); events wholly outside it
are ignored and counted (`CalendarPage.outside_window`). Blocks and rosters are kept as
staff events for the schedule mirror; one that cannot be read is counted
(`CalendarPage.staff_unreadable`), never rejected as an appointment.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pims_sync.domain.appointments import (
    MAX_STAY,
    Appointment,
    CalendarPage,
    Client,
    Patient,
    RejectedEvent,
    StaffEvent,
    StaffKind,
    overlaps,
)
from pims_sync.errors import PimsPayloadError, UnreadableEventError

CALENDAR_ENVELOPES = ("appointments", "data", "events")
DEFAULT_DURATION = timedelta(minutes=15)
WALL_CLOCK_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M")
# The same forms with two-digit fields, which `fromisoformat` reads ten times faster.
ISO_WALL_CLOCK = re.compile(r"\d{4}-\d{2}-\d{2}[ T]\d{2}:\d{2}(:\d{2})?")
# Fields documented as numbers (ids); a string in one is read as the same id and counted.
NUMBER_FIELDS = (
    "appointment_id",
    "id",
    "consultation_id",
    "patient_id",
    "client_id",
    "appointment_room_id",
)
# Fields documented as text; a number in one is read as its text and counted.
TEXT_FIELDS = (
    "start",
    "end",
    "current_status",
    "status_label",
    "patient_name",
    "first_name",
    "last_name",
    "phone_number",
    "email",
    "provider",
    "popup_title_text",
    "resourceId",
    "appointment_room_name",
    "type_description",
    "reason",
)
# Every event field the parser reads. Another JSON type in one of them (object, list,
# true/false) means the feed changed shape: the event is rejected rather than read half-blank.
EVENT_TEXT_FIELDS = NUMBER_FIELDS + TEXT_FIELDS
FLAG_FIELDS = ("is_block", "is_roster")
_FLAG_WORDS = {"0": False, "1": True, "false": False, "true": True}
# A whole number sent as text ("351412", "351412.0"): the same id as the number.
_WHOLE_NUMBER = re.compile(r"\d+(?:\.0*)?")
# Far above anything a calendar field holds (IDEXX ids are 6 digits, reasons a line).
MAX_ID_CHARS = 64
MAX_FIELD_CHARS = 10_000

Json = Mapping[str, object]
Window = tuple[datetime, datetime]


def text(value: object) -> str | None:
    """A non-empty string (finite numbers become text), else None."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, int | float | str):
        # NUL never means anything in a PIMS field, and Postgres can store it in neither
        # text nor JSON: kept, it would fail the whole run's writes.
        result = str(value).replace("\x00", "").strip()
        return result or None
    return None


def number(value: object) -> float | None:
    """A finite number (numeric strings accepted), else None."""
    if isinstance(value, bool) or value is None:
        return None
    try:
        result = float(value) if isinstance(value, int | float) else float(str(value))
    except (ValueError, OverflowError):
        return None
    return result if math.isfinite(result) else None


def kind(value: object) -> str:
    """The JSON name of a value's type, for error messages that must not echo the value."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def parse_wall_clock(value: object, zone: ZoneInfo) -> datetime | None:
    """Clinic wall-clock text (`YYYY-MM-DD HH:MM:SS`) → an aware instant in `zone`."""
    raw = text(value)
    if raw is None:
        return None
    if ISO_WALL_CLOCK.fullmatch(raw[:19]):
        with contextlib.suppress(ValueError):
            return datetime.fromisoformat(raw[:19]).replace(tzinfo=zone)
    for fmt in WALL_CLOCK_FORMATS:
        try:
            return datetime.strptime(raw[:19], fmt).replace(tzinfo=zone)
        except ValueError:
            continue
    return None


def calendar_events(payload: object) -> list[object]:
    """The event list of either envelope (bare array or `{appointments|data|events: [...]}`)."""
    if isinstance(payload, list):
        return payload
    if isinstance(payload, Mapping):
        for key in CALENDAR_ENVELOPES:
            if isinstance(payload.get(key), list):
                return list(payload[key])
        keys = ", ".join(sorted(str(key)[:40] for key in payload)[:8]) or "none"
        raise PimsPayloadError(f"calendar payload has no event list (keys: {keys})")
    raise PimsPayloadError(f"calendar payload is {kind(payload)}, not a list")


def parse_calendar(
    payload: object,
    zone: ZoneInfo,
    *,
    max_events: int | None = None,
    window: Window | None = None,
) -> CalendarPage:
    """Calendar feed → appointments and staff events (blocks, rosters); bad events rejected.

    With `window` ([start, end) instants asked for), events overlapping it are kept (a stay
    that began before it included) and events wholly outside it are ignored and counted.
    Identical repeats of an id collapse to one; a repeat with different details is rejected
    and the first kept.
    """
    events = calendar_events(payload)
    if max_events is not None and len(events) > max_events:
        raise PimsPayloadError(
            f"calendar returned {len(events)} events, more than the plausible {max_events}"
        )
    sorter = _CalendarSorter(zone, window)
    for index, event in enumerate(events):
        sorter.take(index, event)
    return sorter.page()


class _CalendarSorter:
    """Sorts the events of one payload into appointments, drops and rejections."""

    def __init__(self, zone: ZoneInfo, window: Window | None) -> None:
        self.zone, self.window = zone, window
        self.kept: dict[str, tuple[int, Appointment]] = {}
        self.staff: dict[tuple[str, StaffKind], StaffEvent] = {}
        self.rejected: list[RejectedEvent] = []
        self.staff_unreadable = self.outside = self.coerced = 0

    def take(self, index: int, event: object) -> None:
        """Sort one event."""
        try:
            appointment = self._read(event)
        except UnreadableEventError as error:
            self._reject(index, event, str(error))
            return
        if appointment is not None:
            self._place(index, appointment)

    def _read(self, event: object) -> Appointment | None:
        if not isinstance(event, Mapping):
            raise UnreadableEventError(f"it is {kind(event)}, not an object")
        if _flag(event, "is_roster"):
            self._take_staff(event, StaffKind.ROSTER)
        elif _flag(event, "is_block"):
            self._take_staff(event, StaffKind.BLOCK)
        else:
            appointment = read_event(event, self.zone)
            self.coerced += coerced_fields(event)
            return appointment
        self.coerced += sum(1 for key in FLAG_FIELDS if _coerced_flag(event.get(key)))
        return None

    def _take_staff(self, event: Json, staff_kind: StaffKind) -> None:
        """Keep a block or roster; one that cannot be read is counted, not rejected."""
        try:
            staff = read_staff_event(event, self.zone, staff_kind)
        except UnreadableEventError:
            self.staff_unreadable += 1
            return
        place = _place(staff.start, staff.end, self.window)
        if place == OUTSIDE:
            self.outside += 1
        elif place == TOO_LONG or self.staff.setdefault(staff.key, staff) != staff:
            self.staff_unreadable += 1

    def _reject(self, index: int, event: object, reason: str) -> None:
        if not isinstance(event, Mapping):
            self.rejected.append(RejectedEvent(index, None, reason))
            return
        appointment_id, times = _readable_id(event), _times(event, self.zone)
        if times is None:
            self.rejected.append(RejectedEvent(index, appointment_id, reason))
        elif _place(*times, self.window) == OUTSIDE:
            self.outside += 1
        else:
            self.rejected.append(RejectedEvent(index, appointment_id, reason, *times))

    def _place(self, index: int, appointment: Appointment) -> None:
        key, start, end = appointment.appointment_id, appointment.start, appointment.end
        place = _place(start, end, self.window)
        if place == OUTSIDE:
            self.outside += 1
            return
        if place == TOO_LONG:
            reason = f"it lasts longer than {MAX_STAY.days} days"
            self.rejected.append(RejectedEvent(index, key, reason, start, end))
            return
        first = self.kept.setdefault(key, (index, appointment))
        if first[1] != appointment:
            reason = f"it repeats the id of event #{first[0]} with different details"
            self.rejected.append(RejectedEvent(index, key, reason, start, end))

    def page(self) -> CalendarPage:
        """What was sorted, as a page."""
        return CalendarPage(
            tuple(appointment for _, appointment in self.kept.values()),
            staff=tuple(self.staff.values()),
            rejected=tuple(self.rejected),
            staff_unreadable=self.staff_unreadable,
            outside_window=self.outside,
            coerced=self.coerced,
        )


INSIDE, OUTSIDE, TOO_LONG = "inside", "outside", "too long"


def _place(start: datetime, end: datetime, window: Window | None) -> str:
    """Where an event sits relative to the window asked for."""
    if window is not None and not overlaps(start, end, *window):
        return OUTSIDE
    return TOO_LONG if end - start > MAX_STAY else INSIDE


def _times(event: Json, zone: ZoneInfo) -> tuple[datetime, datetime] | None:
    """An event's start and end (15 minutes on when missing), or None: no readable start."""
    start = parse_wall_clock(event.get("start"), zone)
    if start is None:
        return None
    end = parse_wall_clock(event.get("end"), zone)
    return start, end if end is not None and end > start else start + DEFAULT_DURATION


def id_text(value: object) -> str | None:
    """An id as text: `407330`, `"407330"`, `407330.0` and `"407330.0"` are the same id.

    A number with a fraction is none; text that is not a whole number is kept as given.
    """
    if isinstance(value, float):
        return str(int(value)) if value.is_integer() else None
    raw = text(value)
    if raw is not None and _WHOLE_NUMBER.fullmatch(raw):
        return str(int(raw.split(".")[0]))
    return raw


def _readable_id(event: Json) -> str | None:
    """The event's appointment id if it can be read at all (even when other fields cannot).

    `appointment_id` wins over `id`, as in read_event.
    """
    return _one_id(event.get("appointment_id")) or _one_id(event.get("id"))


def _one_id(value: object) -> str | None:
    if isinstance(value, str | int | float) and not isinstance(value, bool) and _finite(value):
        found = id_text(value)
        if found is not None and len(found) <= MAX_ID_CHARS:
            return found
    return None


def _finite(value: object) -> bool:
    return not isinstance(value, float) or math.isfinite(value)


def _flag(event: Json, key: str) -> bool:
    """A true/false flag (0/1, "0"/"1", "true"/"false", null accepted); else unreadable."""
    value = event.get(key)
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _FLAG_WORDS:
        return _FLAG_WORDS[value.strip().lower()]
    raise UnreadableEventError(f"{key} is {kind(value)}, expected true or false")


def _coerced_flag(value: object) -> bool:
    """Whether a flag was read from 0/1 or text rather than a JSON true/false."""
    if value is None or isinstance(value, bool):
        return False
    if isinstance(value, str):
        return value.strip().lower() in _FLAG_WORDS
    return isinstance(value, int | float) and value in (0, 1)


def coerced_fields(event: Json) -> int:
    """How many fields of a readable event came in another JSON type than documented."""
    strings = sum(1 for key in NUMBER_FIELDS if isinstance(event.get(key), str))
    numbers = sum(
        1
        for key in TEXT_FIELDS
        if isinstance(event.get(key), int | float) and not isinstance(event.get(key), bool)
    )
    flags = sum(1 for key in FLAG_FIELDS if _coerced_flag(event.get(key)))
    return strings + numbers + flags


def _check_fields(event: Json) -> None:
    """Every field read as text is null, a string or a finite number, and not huge."""
    for key in EVENT_TEXT_FIELDS:
        value = event.get(key)
        if value is None or isinstance(value, str):
            pass
        elif isinstance(value, bool) or not isinstance(value, int | float):
            raise UnreadableEventError(f"{key} is {kind(value)}, expected text")
        elif isinstance(value, float) and not math.isfinite(value):
            raise UnreadableEventError(f"{key} is not a finite number")
        if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
            raise UnreadableEventError(f"{key} is too long ({len(value)} characters)")


def read_event(event: Json, zone: ZoneInfo) -> Appointment:
    """One calendar event → an Appointment, or UnreadableEventError naming the reason."""
    _check_fields(event)
    # The original read `appointment_id ?? id`: `id` only stands in when the other is missing.
    appointment_id = id_text(event.get("appointment_id")) or id_text(event.get("id"))
    if appointment_id is None:
        raise UnreadableEventError("it has no appointment id")
    if len(appointment_id) > MAX_ID_CHARS:
        raise UnreadableEventError(f"its id is too long ({len(appointment_id)} characters)")
    if event.get("start") is None:
        raise UnreadableEventError("it has no start time")
    times = _times(event, zone)
    if times is None:
        raise UnreadableEventError("its start is not a YYYY-MM-DD HH:MM:SS time")
    start, end = times
    return Appointment(
        appointment_id=appointment_id,
        start=start,
        end=end,
        consultation_id=_consultation_id(event.get("consultation_id")),
        status=text(event.get("current_status")) or text(event.get("status_label")),
        patient=Patient(id=id_text(event.get("patient_id")), name=text(event.get("patient_name"))),
        client=Client(
            id=id_text(event.get("client_id")),
            first_name=text(event.get("first_name")),
            last_name=text(event.get("last_name")),
            phone=text(event.get("phone_number")),
            email=text(event.get("email")),
        ),
        provider_name=text(event.get("provider")) or text(event.get("popup_title_text")),
        room_id=id_text(event.get("resourceId")) or id_text(event.get("appointment_room_id")),
        room_name=text(event.get("appointment_room_name")),
        type_description=text(event.get("type_description")),
        reason=text(event.get("reason")),
    )


# The fields a staff event is read from (people's fields are never read from one).
STAFF_FIELDS = (
    "appointment_id",
    "id",
    "start",
    "end",
    "resourceId",
    "appointment_room_id",
    "appointment_room_name",
    "provider",
    "popup_title_text",
)


def read_staff_event(event: Json, zone: ZoneInfo, staff_kind: StaffKind) -> StaffEvent:
    """One block or roster → a StaffEvent, or UnreadableEventError naming the reason."""
    _check_fields({key: event.get(key) for key in STAFF_FIELDS})
    event_id = id_text(event.get("appointment_id")) or id_text(event.get("id"))
    if event_id is None or len(event_id) > MAX_ID_CHARS:
        raise UnreadableEventError(f"{staff_kind.value} without a readable id")
    times = _times(event, zone)
    if times is None:
        raise UnreadableEventError(f"{staff_kind.value} without a readable start")
    return StaffEvent(
        event_id=event_id,
        kind=staff_kind,
        start=times[0],
        end=times[1],
        resource_id=id_text(event.get("resourceId")) or id_text(event.get("appointment_room_id")),
        room_name=text(event.get("appointment_room_name")),
        provider_name=text(event.get("provider")) or text(event.get("popup_title_text")),
    )


def _consultation_id(value: object) -> str | None:
    # IDEXX sends 0 or null until a consultation exists.
    raw = id_text(value)
    return None if raw in (None, "0") else raw
