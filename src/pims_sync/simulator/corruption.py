"""Malformed answers on demand: chosen calendar events and page-data made wrong on purpose.

A corruption is kept per appointment id (calendar feed) or consultation id (page-data)
and applied to the JSON the IDEXX routes render, never to the world itself: the control
API's own listing keeps showing the truth. Control bodies (docs/simulator.md):
`{"field": "a.b", "value": <any JSON>}` sets a field (without `value`: drops it), `set`
and `drop` do several at once, `replace` swaps the whole item, `duplicate: true` (events
only) adds a copy (the other keys then change only the copy), `notesBytes: N` (page-data
only) makes the clinical note N bytes long, `clear: true` removes the item's corruption.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

MAX_NOTES_BYTES = 64 * 1024 * 1024  # the simulator's own bound on a requested huge note
_MISSING: Any = object()


@dataclass
class Patch:
    """Field changes, or a whole replacement, for one JSON item."""

    set: dict[str, Any] = field(default_factory=dict)
    drop: list[str] = field(default_factory=list)
    replace: Any = _MISSING

    def merge(self, other: Patch) -> None:
        """Later changes win over earlier ones."""
        for path in other.set:
            if path in self.drop:
                self.drop.remove(path)
        self.set.update(other.set)
        self.drop.extend(p for p in other.drop if p not in self.drop)
        for path in other.drop:  # a dropped field takes the changes made inside it along
            for key in [k for k in self.set if k == path or k.startswith(path + ".")]:
                del self.set[key]
        if other.replace is not _MISSING:
            self.replace = other.replace

    def apply(self, item: Any) -> Any:
        """A changed deep copy of `item`."""
        if self.replace is not _MISSING:
            return copy.deepcopy(self.replace)
        changed = copy.deepcopy(item)
        if not isinstance(changed, dict):
            return changed
        for path in self.drop:
            _drop(changed, path.split("."))
        for path, value in self.set.items():
            _set(changed, path.split("."), copy.deepcopy(value))
        return changed

    def as_json(self) -> dict[str, Any]:
        """How the control API shows it."""
        shown: dict[str, Any] = {"set": dict(self.set), "drop": list(self.drop)}
        if self.replace is not _MISSING:
            shown["replace"] = self.replace
        return shown


def _set(item: dict[str, Any], path: list[str], value: Any) -> None:
    for key in path[:-1]:
        if not isinstance(item.get(key), dict):
            item[key] = {}
        item = item[key]
    item[path[-1]] = value


def _drop(item: dict[str, Any], path: list[str]) -> None:
    for key in path[:-1]:
        nested = item.get(key)
        if not isinstance(nested, dict):
            return
        item = nested
    item.pop(path[-1], None)


def patch_of(body: dict[str, Any]) -> Patch:
    """The patch a control body asks for (ValueError when it asks for nothing usable)."""
    patch = Patch()
    if "field" in body:
        path = body["field"]
        if not isinstance(path, str) or not path:
            raise ValueError("field must be a dotted path such as start or consultation.status")
        if "value" in body:
            patch.set[path] = body["value"]
        else:
            patch.drop.append(path)
    sets, drops = body.get("set", {}), body.get("drop", [])
    if not isinstance(sets, dict) or not isinstance(drops, list):
        raise ValueError("set must be an object and drop a list of field paths")
    patch.set.update({str(k): v for k, v in sets.items()})
    patch.drop.extend(str(path) for path in drops)
    if "replace" in body:
        patch.replace = body["replace"]
    return patch


def _is_empty(patch: Patch) -> bool:
    return not patch.set and not patch.drop and patch.replace is _MISSING


@dataclass
class ItemCorruption:
    """What is wrong with one item: its own changes, and copies of it (events only)."""

    changes: Patch = field(default_factory=Patch)
    copies: list[Patch] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """How the control API shows it."""
        return {"changes": self.changes.as_json(), "duplicates": [c.as_json() for c in self.copies]}


class Corruptions:
    """Every corruption in force; `version` changes with each, for the render cache."""

    def __init__(self) -> None:
        self.events: dict[str, ItemCorruption] = {}
        self.consultations: dict[str, ItemCorruption] = {}

    def corrupt_event(self, appointment_id: int, body: dict[str, Any]) -> ItemCorruption | None:
        """Record a control body for a calendar event; None when it cleared it."""
        key = str(appointment_id)
        if body.get("clear"):
            self.events.pop(key, None)
            return None
        patch = patch_of(body)
        entry = self.events.setdefault(key, ItemCorruption())
        if body.get("duplicate"):
            entry.copies.append(patch)
        elif _is_empty(patch):
            raise ValueError('give "field", "set", "drop", "replace" or "duplicate": true')
        else:
            entry.changes.merge(patch)
        return entry

    def corrupt_consultation(
        self, consultation_id: int, body: dict[str, Any]
    ) -> ItemCorruption | None:
        """Record a control body for a consultation's page-data; None when it cleared it."""
        key = str(consultation_id)
        if body.get("clear"):
            self.consultations.pop(key, None)
            return None
        patch = patch_of(body)
        if "notesBytes" in body:
            patch.set["consultationNotes.notes"] = huge_note(body["notesBytes"])
        if _is_empty(patch):
            raise ValueError('give "field", "set", "drop", "replace" or "notesBytes"')
        entry = self.consultations.setdefault(key, ItemCorruption())
        entry.changes.merge(patch)
        return entry

    def calendar(self, events: list[Any]) -> list[Any]:
        """The feed's events with their corruptions applied and duplicates inserted."""
        if not self.events:
            return events
        result: list[Any] = []
        for event in events:
            # Keyed by appointment id: the event's own `id` may differ (unequalIds).
            entry = self.events.get(str(event.get("appointment_id", event.get("id"))))
            if entry is None:
                result.append(event)
                continue
            result.append(entry.changes.apply(event))
            result.extend(copy_patch.apply(event) for copy_patch in entry.copies)
        return result

    def page_data(self, consultation_id: int | None, data: Any) -> Any:
        """A consultation's page-data with its corruption applied."""
        entry = self.consultations.get(str(consultation_id))
        return data if entry is None else entry.changes.apply(data)

    def as_json(self) -> dict[str, Any]:
        """Everything in force, for `GET /__sim__/corruptions`."""
        return {
            "appointments": {k: v.as_json() for k, v in self.events.items()},
            "consultations": {k: _abridged(v.as_json()) for k, v in self.consultations.items()},
        }


def huge_note(size: object) -> str:
    """An HTML note of exactly `size` bytes (UTF-8)."""
    if isinstance(size, bool) or not isinstance(size, int) or not 7 <= size <= MAX_NOTES_BYTES:
        raise ValueError(f"notesBytes must be an integer between 7 and {MAX_NOTES_BYTES}")
    return "<p>" + "x" * (size - 7) + "</p>"


def _abridged(shown: dict[str, Any]) -> dict[str, Any]:
    # A 5 MB note would make the listing useless: show its size instead.
    sets = shown["changes"]["set"]
    for path, value in list(sets.items()):
        if isinstance(value, str) and len(value) > 200:
            sets[path] = f"<{len(value.encode())} bytes>"
    return shown
