"""The one place where a query on clinic data is scoped by clinic_id.

See docs/architecture.md#data-model.
"""

from __future__ import annotations

from uuid import UUID

from sqlalchemy import ColumnElement, Table


def scoped(table: Table, clinic_id: UUID) -> ColumnElement[bool]:
    """The WHERE condition that keeps a query on `table` inside one clinic."""
    return table.c.clinic_id == clinic_id
