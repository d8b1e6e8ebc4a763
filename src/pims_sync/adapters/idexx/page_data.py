"""IDEXX Neo consultation page-data → a Consultation; pure, strict about types (see parsing.py).

Tolerated as the original client tolerated them: `consultationNotes` as an object, a list of
note objects, a string or null; the note in `consultationNotes.notes`, `consultation.notes`
or `consultation.dischargeSummary` (each kept where found); `consultation.id` as a number,
a string or missing (the id asked for); unknown fields ignored.
"""

from __future__ import annotations

from collections.abc import Mapping

from pims_sync.adapters.idexx.parsing import MAX_ID_CHARS, Json, id_text, kind, number, text
from pims_sync.domain.consultations import Consultation, InvoiceLine, html_to_text
from pims_sync.errors import PimsPayloadError

# Clinical notes above this are refused per consultation, never truncated (docs/pipeline.md).
MAX_NOTES_BYTES = 1024 * 1024


def parse_consultation(payload: object, consultation_id: str) -> Consultation:
    """Consultation page-data → a Consultation; a malformed one is a PimsPayloadError.

    Fields read as text must be text (or null); a field (notes above all) over
    MAX_NOTES_BYTES is refused, never truncated: a clinical note cut short is worse than none.
    """
    if not isinstance(payload, Mapping):
        raise PimsPayloadError(f"consultation {consultation_id}: payload is not an object")
    consultation = payload.get("consultation")
    if not isinstance(consultation, Mapping):
        raise PimsPayloadError(
            f"consultation {consultation_id}: payload has no consultation "
            f"(it is {kind(consultation)})"
        )
    field = _FieldReader(consultation_id)
    _check_id(field.text(consultation, "consultation", "id"), consultation_id)
    notes_html = field.notes(payload.get("consultationNotes"))
    notes = field.text(consultation, "consultation", "notes")
    discharge = field.text(consultation, "consultation", "dischargeSummary")
    patient = field.section(payload, "patient")
    client = field.section(payload, "client")
    return Consultation(
        id=consultation_id,
        status=field.text(consultation, "consultation", "status") or "unknown",
        notes=notes,
        notes_html=notes_html,
        notes_text=_first_text(notes_html, notes, discharge),
        discharge_summary=discharge,
        reason=field.text(consultation, "consultation", "reason"),
        date=field.text(consultation, "consultation", "date"),
        lines=tuple(_lines(payload.get("consultationLines"), consultation_id)),
        patient_name=field.text(patient, "patient", "name"),
        patient_species=_named(patient.get("species")),
        patient_breed=_named(patient.get("breed")),
        client_first_name=field.text(client, "client", "firstName"),
        client_last_name=field.text(client, "client", "lastName"),
        client_phone=_phone(client),
        client_email=field.text(client, "client", "email"),
    )


def _check_id(returned: str | None, asked: str) -> None:
    """A page-data that names another consultation is refused (`7`, `"7"`, `7.0` are one)."""
    if returned is not None and id_text(returned) != id_text(asked):
        raise PimsPayloadError(
            f"asked for consultation {asked}, got {returned[:MAX_ID_CHARS]} instead"
        )


def _first_text(*notes: str | None) -> str | None:
    """The plain text of the first note that has any."""
    for note in notes:
        if found := html_to_text(note):
            return found
    return None


class _FieldReader:
    """Reads page-data fields strictly: a wrong type is an error naming the field."""

    def __init__(self, consultation_id: str) -> None:
        self.consultation_id = consultation_id

    def _wrong(self, where: str, key: str, value: object, expected: str) -> PimsPayloadError:
        return PimsPayloadError(
            f"consultation {self.consultation_id}: {where}.{key} is {kind(value)}, "
            f"expected {expected}"
        )

    def section(self, payload: Json, key: str) -> Json:
        """A nested object (missing or null → empty)."""
        value = payload.get(key)
        if value is None:
            return {}
        if not isinstance(value, Mapping):
            raise self._wrong("page-data", key, value, "an object")
        return value

    def text(self, section: Json, where: str, key: str) -> str | None:
        """A text field (numbers accepted), not larger than MAX_NOTES_BYTES."""
        value = section.get(key)
        wrong = isinstance(value, bool) or not isinstance(value, int | float | str)
        if value is not None and wrong:
            raise self._wrong(where, key, value, "text")
        return self._capped(text(value), f"{where}.{key}")

    def _capped(self, value: str | None, where: str) -> str | None:
        size = len(value.encode("utf-8")) if value is not None else 0
        if size > MAX_NOTES_BYTES:
            raise PimsPayloadError(
                f"consultation {self.consultation_id}: {where} too large ({size} bytes, "
                f"limit {MAX_NOTES_BYTES})"
            )
        return value

    def notes(self, value: object) -> str | None:
        """`consultationNotes`: an object's `notes`, a list's joined (blank line between), text."""
        if value is None or isinstance(value, str):
            return self._capped(text(value), "consultationNotes")
        if isinstance(value, Mapping):
            return self.text(value, "consultationNotes", "notes")
        if not isinstance(value, list):
            raise self._wrong("page-data", "consultationNotes", value, "an object or a list")
        parts = []
        for index, item in enumerate(value):
            where = f"consultationNotes[{index}]"
            if isinstance(item, Mapping):
                parts.append(self.text(item, where, "notes"))
            elif item is None or isinstance(item, str):
                parts.append(text(item))
            else:
                raise self._wrong("consultationNotes", str(index), item, "a note object")
        joined = "\n\n".join(part for part in parts if part)
        return self._capped(joined or None, "consultationNotes")


def _object(value: object) -> Json:
    return value if isinstance(value, Mapping) else {}


def _named(value: object) -> str | None:
    # Species and breed are plain text here but `{id, name}` objects elsewhere on the site.
    return text(value.get("name")) if isinstance(value, Mapping) else text(value)


def _phone(client: Json) -> str | None:
    # Mobile first: the number most likely to take a call back.
    for key in ("mobilePhone", "phone", "phoneNumber", "homePhone", "workPhone"):
        if phone := text(client.get(key)):
            return phone
    return None


def _lines(value: object, consultation_id: str) -> list[InvoiceLine]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise PimsPayloadError(f"consultation {consultation_id}: lines are not a list")
    lines = []
    for raw in value:
        if not isinstance(raw, Mapping):
            raise PimsPayloadError(f"consultation {consultation_id}: a line is not an object")
        name = text(raw.get("productService")) or text(raw.get("label"))
        if name is None:
            continue  # a line without a product is a UI spacer, not an item
        provider = _object(raw.get("provider"))
        lines.append(
            InvoiceLine(
                id=text(raw.get("id")),
                name=name,
                quantity=number(raw.get("quantity")),
                total_excluding_tax=number(raw.get("lineTotalExcTax")),
                sold_at=text(raw.get("soldAtLocal")),
                provider_name=text(provider.get("name")),
                declined=_declined(raw.get("isDeclined"), consultation_id),
            )
        )
    return lines


def _declined(value: object, consultation_id: str) -> bool:
    # A truthy string ("no") must not decline a line the clinic sold.
    if value is None or value in (0, 1):
        return bool(value)
    raise PimsPayloadError(
        f"consultation {consultation_id}: a line's isDeclined is {kind(value)}, "
        "expected true or false"
    )
