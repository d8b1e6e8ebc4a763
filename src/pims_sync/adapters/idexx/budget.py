"""How much a PIMS answer may hold, checked on its bytes before any JSON is built.

Parsed JSON costs far more memory than its text: `[{},{},…]` is 3 bytes per element on the
wire and ~70 bytes per empty object in Python, so 32 MB of it took a process to almost
1 GB. A byte cap alone cannot stop that, so the raw body's containers (`{`, `[`) and
elements (`,`) are counted first, which costs a pass over bytes and no objects. Braces and
commas inside strings count too: the bounds are far above what a real answer holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from pims_sync.errors import PimsPayloadError

MIB = 1024 * 1024
# A calendar day of the plausible 400 events is ~0.5 MB; the cap scales with the window.
CALENDAR_BYTES_PER_DAY = 1 * MIB
CALENDAR_MIN_BYTES = 2 * MIB
CALENDAR_MAX_BYTES = 32 * MIB
# A real event is one flat object of ~45 fields; these allow several times that per event.
CONTAINERS_PER_EVENT = 8
ELEMENTS_PER_EVENT = 128
# A consultation's page-data: a few hundred objects (lines, providers, templates).
PAGE_DATA_MAX_CONTAINERS = 20_000
PAGE_DATA_MAX_ELEMENTS = 200_000
# Slack for the envelope and a small answer's own keys.
BASE_CONTAINERS = 64
BASE_ELEMENTS = 1024

_LEADING_SPACE = re.compile(rb"\s*")
BodyCheck = Callable[[bytes], None]


def calendar_max_bytes(days: int) -> int:
    """The byte cap of one calendar answer covering `days` days."""
    return max(CALENDAR_MIN_BYTES, min(CALENDAR_MAX_BYTES, days * CALENDAR_BYTES_PER_DAY))


@dataclass(frozen=True, slots=True)
class JsonBudget:
    """At most this many containers and elements in one JSON body."""

    endpoint: str
    max_containers: int
    max_elements: int

    @classmethod
    def for_calendar(cls, max_events: int) -> JsonBudget:
        """What a calendar answer of at most `max_events` events may hold."""
        return cls(
            "calendar",
            BASE_CONTAINERS + max_events * CONTAINERS_PER_EVENT,
            BASE_ELEMENTS + max_events * ELEMENTS_PER_EVENT,
        )

    @classmethod
    def for_page_data(cls) -> JsonBudget:
        """What one consultation's page-data may hold."""
        return cls("page-data", PAGE_DATA_MAX_CONTAINERS, PAGE_DATA_MAX_ELEMENTS)

    def __call__(self, body: bytes) -> None:
        """Refuse (PimsPayloadError) a JSON body holding more than the budget; else nothing."""
        match = _LEADING_SPACE.match(body)
        offset = match.end() if match else 0
        if body[offset : offset + 1] not in (b"[", b"{"):
            return  # not a JSON container (an HTML page, a scalar): the parser judges it
        containers = body.count(b"{") + body.count(b"[")
        if containers > self.max_containers:
            raise self._refused(f"{containers} objects or lists", self.max_containers)
        elements = body.count(b",") + 1
        if elements > self.max_elements:
            raise self._refused(f"{elements} elements", self.max_elements)

    def _refused(self, found: str, limit: int) -> PimsPayloadError:
        return PimsPayloadError(
            f"IDEXX Neo {self.endpoint}: answer holds {found}, more than the plausible "
            f"{limit}; not parsed",
            endpoint=self.endpoint,
        )
