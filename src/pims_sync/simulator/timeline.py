"""How an appointment looks at a given simulated moment: status, arrival, consultation state."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from pims_sync.simulator import vocabulary as words
from pims_sync.simulator.dataset import Visit, seeded

NO_SHOW_AFTER = timedelta(minutes=30)
READY_TO_PAY_FOR = timedelta(minutes=15)


def is_cancelled(visit: Visit, now: datetime) -> bool:
    """Cancelled, and the cancellation has already happened by `now`."""
    return visit.fate == "cancelled" and (visit.cancelled_at is None or visit.cancelled_at <= now)


def status(visit: Visit, now: datetime) -> str | None:
    """IDEXX status text: past Finalized/No Show, today arrived…, future Scheduled."""
    if visit.kind != "appointment":
        return None
    if is_cancelled(visit, now):
        return "Cancelled"
    if visit.end.date() > visit.start.date():
        return _stay_status(visit, now)
    if visit.start.date() > now.date():
        return "Scheduled"
    if visit.start.date() < now.date():
        return "No Show" if visit.fate == "no_show" else "Finalized"
    return _same_day_status(visit, now)


def _stay_status(visit: Visit, now: datetime) -> str:
    """An event over several days (a stay) is in progress from its start to its end."""
    if visit.start.date() > now.date():
        return "Scheduled"
    if now < visit.start:
        return "not arrived"
    return "In Progress" if now < visit.end else "Finalized"


def _same_day_status(visit: Visit, now: datetime) -> str:
    if visit.fate == "no_show":
        return "No Show" if now >= visit.start + NO_SHOW_AFTER else "not arrived"
    if now < arrival(visit):
        return "not arrived"
    if now < visit.start:
        return "arrived"
    if now < visit.end:
        return "In Progress"
    if now < visit.end + READY_TO_PAY_FOR:
        return "Ready to Pay"
    return "Finalized"


def arrival(visit: Visit) -> datetime:
    """When the patient walks in."""
    return visit.start - timedelta(minutes=visit.arrival_minutes)


def arrived_at(visit: Visit, now: datetime) -> datetime | None:
    """Arrival time once it has happened (never for no-shows or cancelled visits)."""
    if visit.kind != "appointment" or visit.fate != "normal":
        return None
    moment = arrival(visit)
    return moment if moment <= now else None


def has_consultation(visit: Visit, now: datetime) -> bool:
    """Consultations exist for past and same-day visits that were not cancelled or missed."""
    return (
        visit.kind == "appointment"
        and visit.consultation_id is not None
        and not visit.deleted
        and not is_cancelled(visit, now)
        and visit.fate != "no_show"
        and visit.start.date() <= now.date()
    )


@dataclass(frozen=True)
class ConsultationState:
    """Status and notes of a consultation at a moment."""

    status: str
    notes_html: str


def consultation_state(visit: Visit, now: datetime, patient_name: str) -> ConsultationState:
    """Notes appear some minutes (or, for late writers, hours) after the visit ends."""
    if visit.notes_override is not None:
        return ConsultationState(visit.notes_status_override or "completed", visit.notes_override)
    if now < visit.end + timedelta(minutes=visit.notes_delay_minutes):
        return ConsultationState("in_progress", "")
    return ConsultationState("completed", soap_notes(visit, patient_name))


def soap_notes(visit: Visit, patient_name: str) -> str:
    """Generated SOAP note as the HTML IDEXX's CKEditor stores."""
    rng = seeded(visit.note_seed)
    temperature = round(rng.uniform(100.5, 102.8), 1)
    return (
        f"<p>Appointment reason: {visit.reason}</p>"
        f"<p>S: {patient_name} presented for {(visit.reason or 'exam').lower()}. "
        "Owner reports normal appetite at home.</p>"
        f"<p>O: T {temperature}F, HR {rng.randint(80, 140)}, RR {rng.randint(16, 36)}. "
        f"BCS {rng.randint(4, 6)}/9.</p>"
        f"<p>A: {rng.choice(words.ASSESSMENTS)}</p>"
        f"<p>P: {rng.choice(words.PLANS)}</p>"
    )


def invoice_lines(visit: Visit, now: datetime) -> list[dict[str, object]]:
    """Consultation lines (some declined) once the visit has started; none before."""
    if now < visit.start:
        return []
    rng = seeded(visit.note_seed, "lines")
    chosen = [words.PRODUCTS[0], *rng.sample(words.PRODUCTS[1:], rng.randint(0, 3))]
    lines: list[dict[str, object]] = []
    for number, (product, price) in enumerate(chosen):
        quantity = 1 if number == 0 else rng.choice((1, 1, 2, 3))
        line: dict[str, object] = {
            "id": visit.id * 10 + number,
            "productService": product,
            "soldAtLocal": (visit.start + timedelta(minutes=5 + number)).strftime(
                "%Y-%m-%d %H:%M:%S"
            ),
            "provider": {"id": visit.vet.id, "name": visit.vet.name},
            "quantity": quantity,
            "lineTotalExcTax": round(price * quantity, 2),
            "isDeclined": number > 0 and rng.random() < 0.25,
        }
        if rng.random() < 0.3:
            line["batchNo"] = f"C{rng.randint(1000, 9999)}"
        lines.append(line)
    return lines
