"""What every shape shares: camelCase names, instants as the original wrote them, omissions."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, PlainSerializer, WithJsonSchema
from pydantic.alias_generators import to_camel

from pims_sync.domain.instants import iso

# An instant on the wire: ISO 8601 UTC with milliseconds (`2026-06-11T06:00:00.000Z`).
Instant = Annotated[
    datetime,
    PlainSerializer(iso, return_type=str),
    WithJsonSchema({"type": "string", "format": "date-time"}),
]


def _is_none(value: object) -> bool:
    return value is None


def _never_null(schema: dict[str, Any]) -> None:
    """The schema of a field that is left out rather than null: its type without `null`."""
    kept = [option for option in schema.pop("anyOf", []) if option != {"type": "null"}]
    if len(kept) == 1:
        schema.update(kept[0])
    elif kept:
        schema["anyOf"] = kept
    schema.pop("default", None)


def omitted(description: str | None = None) -> Any:
    """A field left out of the JSON when it is None (rather than written as `null`)."""
    return Field(None, exclude_if=_is_none, description=description, json_schema_extra=_never_null)


class CamelModel(BaseModel):
    """A model whose JSON names are camelCase (`clinicId`), accepting either form in."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, serialize_by_alias=True
    )

    def wire(self) -> dict[str, Any]:
        """The JSON object this model is on the wire (for the audit row, events, `--json`)."""
        return self.model_dump(mode="json")
