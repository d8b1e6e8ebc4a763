"""What the cases must be, given what the PIMS says: the convergence property, readably.

The truth is the simulator's calendar over the final full sync's window (docs/pipeline.md#rules):

- every appointment that starts in the inbound window has exactly one live case with its
  true instant, its mapped status and type, and its patient and owner as the feed says;
- every past appointment with a consultation (start at or before now, in the cases
  window) carries that consultation's notes and status as the page-data shows them,
  unless the consultation changed after a final version was fetched (notes edited, or
  the visit moved and re-timed by the simulator): a final consultation is read
  once, so such a case keeps what it read;
- every case in the reconciliation window whose appointment is not in the calendar is
  soft-deleted (`reviewed`, `metadata.reconciliation.softDeleted`);
- no case is soft-deleted while its appointment is in the calendar.

"Not in the calendar" is what the service can see: an appointment hard-deleted, or moved
out of the window, is gone from it (and restored when it comes back). A case outside the
reconciliation window whose appointment is gone keeps what it had: reconciliation only
looks back from today (docs/pipeline.md#reconciliation).

Duplicates are checked separately, after every step: one case per external id, one
patient row per case, every case for an appointment id the PIMS has given out.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from pims_sync.domain.case_metadata import REMOVED_FROM_PIMS
from pims_sync.domain.cases import CaseStatus, external_id, map_status, map_type
from pims_sync.sync.windows import DateWindow

WALL_CLOCK = "%Y-%m-%d %H:%M:%S"


def wall_instant(text: str, zone: ZoneInfo) -> datetime:
    """A simulator wall-clock time (clinic zone) as the true instant, in UTC."""
    return datetime.strptime(text, WALL_CLOCK).replace(tzinfo=zone).astimezone(UTC)


def around(today: date, *, back: int, ahead: int) -> DateWindow:
    """today − back … today + ahead: the window the docs promise, computed here on its own."""
    return DateWindow(today - timedelta(days=back), today + timedelta(days=ahead))


def _text(value: object) -> str | None:
    """What the parser keeps of a feed value: stripped text, None when empty."""
    if value is None or isinstance(value, bool):
        return None
    result = str(value).strip()
    return result or None


@dataclass(frozen=True, slots=True)
class PimsAppointment:
    """One appointment as the calendar feed shows it now."""

    appointment_id: str
    start: datetime  # the true instant, UTC
    status: str | None
    type_description: str | None
    patient_name: str | None
    owner_name: str | None
    owner_phone: str | None
    owner_email: str | None
    consultation_id: str | None

    @classmethod
    def from_event(cls, event: Mapping[str, Any], zone: ZoneInfo) -> PimsAppointment:
        """From a calendar event (snake_case, as `/__sim__/appointments` lists it)."""
        names = (_text(event.get("first_name")), _text(event.get("last_name")))
        consultation = _text(event.get("consultation_id"))
        return cls(
            appointment_id=str(event["id"]),
            start=wall_instant(str(event["start"]), zone),
            status=_text(event.get("current_status")),
            type_description=_text(event.get("type_description")),
            patient_name=_text(event.get("patient_name")),
            owner_name=" ".join(n for n in names if n) or None,
            owner_phone=_text(event.get("phone_number")),
            owner_email=_text(event.get("email")),
            consultation_id=None if consultation in (None, "0") else consultation,
        )

    @property
    def external_id(self) -> str:
        """The case's external id."""
        return external_id(self.appointment_id)


@dataclass(frozen=True, slots=True)
class PimsConsultation:
    """A consultation's page-data: what enrichment must have written."""

    consultation_id: str
    status: str
    notes_html: str | None

    @classmethod
    def from_page_data(cls, consultation_id: str, page: Mapping[str, Any]) -> PimsConsultation:
        """From `/consultations/{id}/page-data` (the HTML note is in `consultationNotes`)."""
        consultation = page.get("consultation") or {}
        notes = page.get("consultationNotes") or {}
        return cls(
            consultation_id=consultation_id,
            status=_text(consultation.get("status")) or "unknown",
            notes_html=_text(notes.get("notes")),
        )


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One stored case and its patient row (None when it has none)."""

    case_id: str
    external_id: str
    source: str
    status: str
    type: str
    scheduled_at: datetime | None
    metadata: Mapping[str, Any]
    patient: Mapping[str, Any] | None

    @property
    def soft_deleted(self) -> bool:
        """Whether reconciliation marked it removed from the PIMS."""
        marker = self.metadata.get("reconciliation")
        return isinstance(marker, Mapping) and marker.get("softDeleted") is True


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The clinic's cases and how many patient rows point at each case id."""

    cases: Sequence[CaseRow]
    patient_rows: Mapping[str, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Truth:
    """The PIMS at the end: the calendar of the final window and its consultations."""

    zone: ZoneInfo
    today: date
    now: datetime  # the true instant, UTC
    days_ahead: int
    lookback_days: int
    appointments: Sequence[PimsAppointment]
    consultations: Mapping[str, PimsConsultation]
    # Consultations that changed after a final version was fetched (kept as read).
    notes_frozen: Collection[str] = ()

    @property
    def inbound(self) -> DateWindow:
        """The full run's inbound window."""
        return around(self.today, back=self.lookback_days, ahead=self.days_ahead)

    @property
    def reconciliation(self) -> DateWindow:
        """The full run's reconciliation window: the lookback up to today."""
        return around(self.today, back=self.lookback_days, ahead=0)

    def in_window(self) -> list[PimsAppointment]:
        """The appointments that start inside the inbound window (what inbound reads)."""
        start, end = self.inbound.start_instant(self.zone), self.inbound.end_instant(self.zone)
        return [a for a in self.appointments if start <= a.start < end]


# --- duplicates -----------------------------------------------------------------------


def duplicate_problems(snapshot: Snapshot, known_ids: Collection[str]) -> list[str]:
    """Everything that makes the cases more than one per appointment (checked every step)."""
    problems: list[str] = []
    counts = Counter(case.external_id for case in snapshot.cases)
    problems += [f"{key}: {n} cases for one appointment" for key, n in counts.items() if n > 1]
    ids = {case.case_id for case in snapshot.cases}
    for case in snapshot.cases:
        rows = snapshot.patient_rows.get(case.case_id, 0)
        if rows != 1:
            problems.append(f"{case.external_id}: {rows} patient rows (expected exactly 1)")
        if case.external_id not in known_ids:
            problems.append(f"{case.external_id}: a case for no appointment the PIMS gave out")
    orphans = sorted(set(snapshot.patient_rows) - ids)
    problems += [f"patient row for case {case_id} that does not exist" for case_id in orphans]
    return problems


# --- convergence ----------------------------------------------------------------------


def _expected(appointment: PimsAppointment) -> dict[str, Any]:
    return {
        "scheduled_at": appointment.start,
        "status": map_status(appointment.status).value,
        "type": map_type(appointment.type_description).value,
        "soft_deleted": False,
        "patient.name": appointment.patient_name or "Unknown",
        "patient.owner_name": appointment.owner_name,
        "patient.owner_phone": appointment.owner_phone,
        "patient.owner_email": appointment.owner_email,
        # What inbound compares next time, and what downstream software reads.
        "source": "pims:idexx-neo",
        "metadata.pimsAppointment.status": appointment.status,
        "metadata.pimsAppointment.consultationId": appointment.consultation_id,
        "metadata.entities.patient.owner.phone": appointment.owner_phone,
    }


def _path(document: Mapping[str, Any], *keys: str) -> Any:
    value: Any = document
    for key in keys:
        value = value.get(key) if isinstance(value, Mapping) else None
    return value


def _actual(case: CaseRow) -> dict[str, Any]:
    patient = case.patient or {}
    scheduled = case.scheduled_at.astimezone(UTC) if case.scheduled_at else None
    metadata = case.metadata
    return {
        "source": case.source,
        "metadata.pimsAppointment.status": _path(metadata, "pimsAppointment", "status"),
        "metadata.pimsAppointment.consultationId": _path(
            metadata, "pimsAppointment", "consultationId"
        ),
        "metadata.entities.patient.owner.phone": _path(
            metadata, "entities", "patient", "owner", "phone"
        ),
        "scheduled_at": scheduled,
        "status": case.status,
        "type": case.type,
        "soft_deleted": case.soft_deleted,
        "patient.name": patient.get("name"),
        "patient.owner_name": patient.get("owner_name"),
        "patient.owner_phone": patient.get("owner_phone"),
        "patient.owner_email": patient.get("owner_email"),
    }


def _field_diffs(label: str, expected: Mapping[str, Any], actual: Mapping[str, Any]) -> list[str]:
    return [
        f"{label}: {key}: expected {expected[key]!r}, got {actual.get(key)!r}"
        for key in expected
        if expected[key] != actual.get(key)
    ]


def _enrichment_diffs(truth: Truth, appointment: PimsAppointment, case: CaseRow) -> list[str]:
    """The consultation a past appointment must carry (docs/pipeline.md#cases-enrichment)."""
    consultation_id = appointment.consultation_id
    cases_start = truth.reconciliation.start_instant(truth.zone)
    if consultation_id is None or not cases_start <= appointment.start < truth.now:
        return []
    label = f"{case.external_id} (consultation {consultation_id})"
    document = case.metadata.get("pimsConsultation")
    if not isinstance(document, Mapping) or str(document.get("id")) != consultation_id:
        got = document.get("id") if isinstance(document, Mapping) else None
        return [f"{label}: not enriched with it (pimsConsultation.id {got!r})"]
    if consultation_id in truth.notes_frozen:
        # Fetched final before the notes changed: read once, never again.
        return [] if document.get("isFinal") is True else [f"{label}: notes frozen but not final"]
    page = truth.consultations.get(consultation_id)
    if page is None:
        return [f"{label}: the PIMS has no page-data for it"]
    expected = {"status": page.status, "notesHtml": page.notes_html}
    actual = {"status": document.get("status"), "notesHtml": document.get("notesHtml")}
    return _field_diffs(label, expected, actual)


def _is_removed_marker(case: CaseRow) -> list[str]:
    marker = case.metadata.get("reconciliation")
    problems = []
    if case.status != CaseStatus.REVIEWED.value:
        problems.append(f"{case.external_id}: soft-deleted but status {case.status!r}")
    if not isinstance(marker, Mapping) or marker.get("reason") != REMOVED_FROM_PIMS:
        problems.append(f"{case.external_id}: soft-delete marker without reason: {marker!r}")
    elif not isinstance(marker.get("previousStatus"), str):
        problems.append(f"{case.external_id}: soft-delete marker without previousStatus")
    return problems


def convergence_problems(truth: Truth, snapshot: Snapshot) -> list[str]:
    """Every way the cases differ from the PIMS's truth after a final full sync."""
    by_key: dict[str, CaseRow] = {}
    for case in snapshot.cases:
        by_key.setdefault(case.external_id, case)
    problems: list[str] = []
    present = truth.in_window()
    for appointment in present:
        case = by_key.get(appointment.external_id)
        if case is None:
            problems.append(f"{appointment.external_id}: no case (PIMS {appointment.status!r})")
            continue
        label = f"{case.external_id} (PIMS status {appointment.status!r})"
        problems += _field_diffs(label, _expected(appointment), _actual(case))
        problems += _enrichment_diffs(truth, appointment, case)
    present_keys = {a.external_id for a in present}
    window = truth.reconciliation
    start, end = window.start_instant(truth.zone), window.end_instant(truth.zone)
    for case in snapshot.cases:
        if case.external_id in present_keys:
            continue
        inside = case.scheduled_at is not None and start <= case.scheduled_at < end
        if inside and not case.soft_deleted:
            problems.append(
                f"{case.external_id}: gone from the PIMS at {case.scheduled_at} "
                f"but not soft-deleted (status {case.status!r})"
            )
        if case.soft_deleted:
            problems += _is_removed_marker(case)
    return problems


def report(title: str, problems: Iterable[str], limit: int = 40) -> str:
    """A readable list of problems for an assertion message."""
    lines = sorted(problems)
    shown = [f"  - {line}" for line in lines[:limit]]
    if len(lines) > limit:
        shown.append(f"  … and {len(lines) - limit} more")
    return "\n".join([f"{title} ({len(lines)} problems):", *shown])


def assert_none(title: str, problems: Sequence[str]) -> None:
    """Fail with every problem listed, sorted, one per line."""
    assert not problems, report(title, problems)
