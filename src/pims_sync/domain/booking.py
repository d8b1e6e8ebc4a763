"""A clinic's booking rules: opening hours, slots, visit lengths, columns, buffers, notice.

Stored and exchanged as one JSON document (camelCase, `rules_document`); every entry point
(the API's `PUT /api/booking/config`, `pims-sync booking set`) reads it with `parse_rules`,
which names the field and the bound of whatever it refuses. A clinic without rules gets
`DEFAULT_RULES`: Monday to Friday 08:00-18:00, Saturday 09:00-13:00, 15-minute slots
(docs/availability.md#booking-rules).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import pairwise
from typing import Any

from pims_sync.errors import InvalidInputError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
MINUTES_PER_DAY = 24 * 60
MAX_INTERVALS_PER_DAY = 12
MAX_EXCEPTIONS = 400
MAX_VISIT_TYPES = 200
MAX_RESOURCES = 200
MAX_NAME_CHARS = 100
# (lowest, highest) of each number of the document.
BOUNDS = {
    "slotMinutes": (5, 240),
    "bufferBeforeMinutes": (0, 120),
    "bufferAfterMinutes": (0, 120),
    "minNoticeMinutes": (0, 20_160),
    "maxDaysAhead": (1, 365),
}
VISIT_MINUTES = (5, 480)
_INTERVAL = re.compile(r"(\d{2}):(\d{2})-(\d{2}):(\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True, order=True)
class Opening:
    """An opening interval of a day, in minutes after the clinic's local midnight."""

    start: int
    end: int

    def text(self) -> str:
        """`HH:MM-HH:MM`, as the document writes it."""
        return f"{_clock(self.start)}-{_clock(self.end)}"


def _clock(minutes: int) -> str:
    return f"{minutes // 60:02d}:{minutes % 60:02d}"


WEEKDAY_HOURS = (Opening(8 * 60, 18 * 60),)
SATURDAY_HOURS = (Opening(9 * 60, 13 * 60),)


@dataclass(frozen=True, slots=True)
class BookingRules:
    """What makes a time bookable at a clinic (weekday 0 is Monday)."""

    hours: Mapping[int, tuple[Opening, ...]] = field(
        default_factory=lambda: {
            **dict.fromkeys(range(5), WEEKDAY_HOURS),
            5: SATURDAY_HOURS,
            6: (),
        }
    )
    exceptions: Mapping[date, tuple[Opening, ...]] = field(default_factory=dict)
    slot_minutes: int = 15
    visit_minutes: Mapping[str, int] = field(default_factory=dict)
    bookable_resource_ids: tuple[str, ...] = ()
    buffer_before_minutes: int = 0
    buffer_after_minutes: int = 0
    min_notice_minutes: int = 60
    max_days_ahead: int = 60
    rosters_define_working: bool = False

    def opening_on(self, day: date) -> tuple[Opening, ...]:
        """The day's opening intervals: its dated exception, else its weekday's."""
        found = self.exceptions.get(day)
        return found if found is not None else self.hours.get(day.weekday(), ())

    def visit_length(self, appointment_type: str | None) -> timedelta:
        """A visit's default length: its type's, else one slot."""
        minutes = self.visit_minutes.get(appointment_type or "", self.slot_minutes)
        return timedelta(minutes=minutes)

    @property
    def buffer_before(self) -> timedelta:
        """Kept free before each visit."""
        return timedelta(minutes=self.buffer_before_minutes)

    @property
    def buffer_after(self) -> timedelta:
        """Kept free after each visit."""
        return timedelta(minutes=self.buffer_after_minutes)

    @property
    def min_notice(self) -> timedelta:
        """How long from now the first bookable start is."""
        return timedelta(minutes=self.min_notice_minutes)


DEFAULT_RULES = BookingRules()


def rules_document(rules: BookingRules) -> dict[str, Any]:
    """The rules as their JSON document (what is stored, shown and accepted)."""
    return {
        "openingHours": {
            name: [o.text() for o in rules.hours.get(index, ())]
            for index, name in enumerate(WEEKDAYS)
        },
        "exceptions": {
            day.isoformat(): [o.text() for o in hours]
            for day, hours in sorted(rules.exceptions.items())
        },
        "slotMinutes": rules.slot_minutes,
        "visitMinutes": dict(sorted(rules.visit_minutes.items())),
        "bookableResourceIds": list(rules.bookable_resource_ids),
        "bufferBeforeMinutes": rules.buffer_before_minutes,
        "bufferAfterMinutes": rules.buffer_after_minutes,
        "minNoticeMinutes": rules.min_notice_minutes,
        "maxDaysAhead": rules.max_days_ahead,
        "rostersDefineWorking": rules.rosters_define_working,
    }


KEYS = tuple(rules_document(DEFAULT_RULES))


def parse_rules(document: Mapping[str, Any]) -> BookingRules:
    """Rules from their document; a key left out keeps its default.

    `openingHours`, when given, is the whole week: a day it leaves out is closed.
    InvalidInputError names the field and what it must be.
    """
    unknown = sorted(set(document) - set(KEYS))
    if unknown:
        raise InvalidInputError(f"unknown booking rule {unknown[0]!r} (known: {', '.join(KEYS)})")
    values: dict[str, Any] = {}
    if "openingHours" in document:
        values["hours"] = _week(document["openingHours"])
    if "exceptions" in document:
        values["exceptions"] = _exceptions(document["exceptions"])
    for key, (lowest, highest) in BOUNDS.items():
        if key in document:
            values[_attribute(key)] = _whole(document[key], key, lowest, highest)
    if "visitMinutes" in document:
        values["visit_minutes"] = _visit_minutes(document["visitMinutes"])
    if "bookableResourceIds" in document:
        values["bookable_resource_ids"] = _resources(document["bookableResourceIds"])
    if "rostersDefineWorking" in document:
        values["rosters_define_working"] = _flag(document["rostersDefineWorking"])
    return BookingRules(**values)


def _attribute(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _whole(value: object, name: str, lowest: int, highest: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lowest <= value <= highest:
        raise InvalidInputError(f"{name} must be a whole number from {lowest} to {highest}")
    return value


def _flag(value: object) -> bool:
    if not isinstance(value, bool):
        raise InvalidInputError("rostersDefineWorking must be true or false")
    return value


def _object(value: object, name: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInputError(f"{name} must be an object")
    return value


def _week(value: object) -> dict[int, tuple[Opening, ...]]:
    days = _object(value, "openingHours")
    unknown = sorted(set(days) - set(WEEKDAYS))
    if unknown:
        raise InvalidInputError(
            f"openingHours: unknown day {str(unknown[0])[:20]!r} (use {', '.join(WEEKDAYS)})"
        )
    return {
        index: _day(days.get(name, []), f"openingHours.{name}")
        for index, name in enumerate(WEEKDAYS)
    }


def _exceptions(value: object) -> dict[date, tuple[Opening, ...]]:
    dated = _object(value, "exceptions")
    if len(dated) > MAX_EXCEPTIONS:
        raise InvalidInputError(f"exceptions: at most {MAX_EXCEPTIONS} dates")
    found: dict[date, tuple[Opening, ...]] = {}
    for text, hours in dated.items():
        day = _date(text)
        found[day] = _day(hours, f"exceptions.{day.isoformat()}")
    return found


def _date(text: object) -> date:
    if not isinstance(text, str) or not _DATE.fullmatch(text):
        raise InvalidInputError(f"exceptions: {str(text)[:20]!r} is not a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise InvalidInputError(f"exceptions: {text} is not a real date") from None


def _day(value: object, name: str) -> tuple[Opening, ...]:
    """A day's intervals: `["08:00-12:00", "13:00-18:00"]`; `[]` is closed."""
    if not isinstance(value, list) or len(value) > MAX_INTERVALS_PER_DAY:
        raise InvalidInputError(
            f"{name} must be a list of at most {MAX_INTERVALS_PER_DAY} intervals as HH:MM-HH:MM"
        )
    intervals = sorted(_interval(item, name) for item in value)
    for before, after in pairwise(intervals):
        if after.start < before.end:
            raise InvalidInputError(f"{name}: {before.text()} and {after.text()} overlap")
    return tuple(intervals)


def _interval(value: object, name: str) -> Opening:
    found = _INTERVAL.fullmatch(value) if isinstance(value, str) else None
    if found is None:
        raise InvalidInputError(f"{name}: {str(value)[:20]!r} is not an interval as HH:MM-HH:MM")
    start_h, start_m, end_h, end_m = (int(part) for part in found.groups())
    start, end = start_h * 60 + start_m, end_h * 60 + end_m
    if start_h > 23 or start_m > 59 or end_m > 59 or end > MINUTES_PER_DAY:
        raise InvalidInputError(f"{name}: {value} is not a time of day (00:00 to 24:00)")
    if end <= start:
        raise InvalidInputError(f"{name}: {value} ends before it starts")
    return Opening(start, end)


def _visit_minutes(value: object) -> dict[str, int]:
    types = _object(value, "visitMinutes")
    if len(types) > MAX_VISIT_TYPES:
        raise InvalidInputError(f"visitMinutes: at most {MAX_VISIT_TYPES} appointment types")
    lowest, highest = VISIT_MINUTES
    found: dict[str, int] = {}
    for name, minutes in types.items():
        if not _plain_text(name, MAX_NAME_CHARS):
            raise InvalidInputError(
                f"visitMinutes: an appointment type is 1 to {MAX_NAME_CHARS} printable characters"
            )
        found[name] = _whole(minutes, f"visitMinutes.{name}", lowest, highest)
    return found


def _resources(value: object) -> tuple[str, ...]:
    if not isinstance(value, list) or len(value) > MAX_RESOURCES:
        raise InvalidInputError(
            f"bookableResourceIds must be a list of at most {MAX_RESOURCES} ids"
        )
    ids: list[str] = []
    for item in value:
        if not isinstance(item, str) or not _plain_text(item, 64) or item != item.strip():
            raise InvalidInputError(
                "bookableResourceIds: each id is text of 1 to 64 printable characters"
            )
        if item not in ids:
            ids.append(item)
    return tuple(ids)


def _plain_text(text: str, longest: int) -> bool:
    """Not blank, not too long, no control character (NUL never fits a database)."""
    return bool(text.strip()) and len(text) <= longest and text.isprintable()


def resource_order(resource_id: str) -> tuple[int, int, str]:
    """Columns in a natural order: `6` before `10`, numbers before names."""
    numeric = resource_id.isascii() and resource_id.isdigit()
    return (0, int(resource_id), "") if numeric else (1, 0, resource_id)


def sorted_resources(resource_ids: Sequence[str]) -> list[str]:
    """The ids in `resource_order`, once each."""
    return sorted(set(resource_ids), key=resource_order)
