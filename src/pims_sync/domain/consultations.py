"""Consultations: the clinical notes and invoice lines of a visit."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser

FINAL_STATUSES = frozenset({"completed", "complete", "finalized", "finalised", "final", "closed"})
_BLOCK_TAGS = frozenset({"p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6"})


@dataclass(frozen=True, slots=True)
class InvoiceLine:
    """One product or service on the consultation's invoice, accepted or declined."""

    id: str | None
    name: str
    quantity: float | None = None
    total_excluding_tax: float | None = None
    sold_at: str | None = None
    provider_name: str | None = None
    declined: bool = False

    @property
    def label(self) -> str:
        """The name, with the quantity when it is not one (as the original shows it)."""
        if self.quantity is None or self.quantity == 1:
            return self.name
        quantity = int(self.quantity) if self.quantity.is_integer() else self.quantity
        return f"{self.name} (Qty: {quantity})"


@dataclass(frozen=True, slots=True)
class Consultation:
    """A consultation's notes (HTML as given and as plain text), lines and status."""

    id: str
    status: str
    notes: str | None = None
    notes_html: str | None = None
    notes_text: str | None = None
    discharge_summary: str | None = None
    reason: str | None = None
    date: str | None = None
    lines: tuple[InvoiceLine, ...] = ()
    patient_name: str | None = None
    patient_species: str | None = None
    patient_breed: str | None = None
    client_first_name: str | None = None
    client_last_name: str | None = None
    client_phone: str | None = None
    client_email: str | None = None

    @property
    def is_final(self) -> bool:
        """Whether the PIMS says the consultation is finished (notes unlikely to change)."""
        return self.status.strip().lower() in FINAL_STATUSES

    @property
    def accepted_lines(self) -> tuple[InvoiceLine, ...]:
        """Products and services provided."""
        return tuple(line for line in self.lines if not line.declined)

    @property
    def declined_lines(self) -> tuple[InvoiceLine, ...]:
        """Products and services offered and declined."""
        return tuple(line for line in self.lines if line.declined)


class _TextCollector(HTMLParser):
    """Collects text, turning block elements into line breaks."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:  # noqa: ARG002
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _BLOCK_TAGS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        self.parts.append(data)


def html_to_text(html: str | None) -> str | None:
    """Plain text of an HTML note: one line per block, spaces collapsed; None if empty."""
    if not html:
        return None
    collector = _TextCollector()
    collector.feed(html)
    collector.close()
    lines = (
        re.sub(r"[ \t\xa0]+", " ", line).strip() for line in "".join(collector.parts).split("\n")
    )
    text = "\n".join(line for line in lines if line)
    return text or None
