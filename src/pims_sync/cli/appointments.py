"""`pims-sync appointments search|create|cancel`: booking write-back for operators.

The same `BookingDesk` as `/api/appointments/*` (docs/booking.md): a create is made once per
`--key` (an Idempotency-Key; one is made and shown when none is given: repeat the command
with it, never without, to be sure nothing is booked twice).
"""

from __future__ import annotations

import time
import uuid
from datetime import date
from datetime import time as clock
from typing import Annotated

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import JsonOption, emit_json, fail, parse_id, with_services
from pims_sync.domain.availability import FreeSlot
from pims_sync.domain.booking_orders import BookingOrder, BookingOutcome, CancelOrder
from pims_sync.domain.clinics import Clinic
from pims_sync.domain.pims_writes import PatientMatch
from pims_sync.domain.write_requests import check_key
from pims_sync.errors import ClinicNotFoundError, InvalidInputError, SlotUnavailableError
from pims_sync.shapes.appointments import BookingOut, PatientMatchOut

app = typer.Typer(
    name="appointments",
    help="Search patients, book and cancel appointments in a clinic's PIMS (exactly once).",
    no_args_is_help=True,
)

ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]
KeyOption = Annotated[
    str | None,
    typer.Option(
        "--key", help="The write's Idempotency-Key; repeat a command with the key it printed."
    ),
]


async def _clinic(services: Services, clinic_id: uuid.UUID) -> Clinic:
    found = await services.clinics.get(clinic_id)
    if found is None:
        raise ClinicNotFoundError(f"Clinic not found: {clinic_id}")
    return found


def _out(clinic: Clinic, outcome: BookingOutcome, started: float) -> BookingOut:
    return BookingOut.of(
        outcome, clinic.zone, duration_ms=round((time.monotonic() - started) * 1000)
    )


def _say(verb: str, answer: BookingOut, key: str | None) -> None:
    shown = answer.appointment
    where = f" (column {shown.resource_id})" if shown.resource_id else ""
    typer.echo(
        f"{verb} appointment {shown.id}: {shown.start:%Y-%m-%d %H:%M}-{shown.end:%H:%M}{where}, "
        f"status {shown.status or 'unknown'}, patient {shown.patient_id or '-'}"
        + (" (the stored answer of this key)" if answer.replayed else "")
    )
    typer.echo("Confirmed by reading IDEXX back." + (f" Idempotency-Key: {key}" if key else ""))


def _alternatives(error: SlotUnavailableError) -> str:
    slots = [s for s in error.alternatives if isinstance(s, FreeSlot)]
    lines = [f"  {s.start:%Y-%m-%d %H:%M} on {', '.join(s.resource_ids)}" for s in slots]
    return "\n".join([error.message, "Free instead:", *lines] if lines else [error.message])


@app.command("search")
def search(
    clinic: ClinicOption,
    query: Annotated[str, typer.Argument(help="A patient's name, id, or owner's name.")],
    limit: Annotated[int, typer.Option(min=1, max=100, help="At most this many.")] = 10,
    as_json: bool = JsonOption,
) -> None:
    """Patients of the clinic's PIMS matching the query (one PIMS search)."""
    clinic_id = parse_id(clinic, "--clinic")

    async def work(services: Services) -> list[PatientMatch]:
        return await services.bookings.search(await _clinic(services, clinic_id), query, limit)

    found = [PatientMatchOut.of(m) for m in with_services(work, upgrade_sqlite=True)]
    if as_json:
        emit_json([match.wire() for match in found])
        return
    for match in found:
        typer.echo(
            f"{match.patient_id}  {match.name or '-'}  {match.species or ''}  "
            f"client {match.client_id or '-'} {match.client_name or ''}".rstrip()
        )
    typer.echo(f"{len(found)} patient(s)")


@app.command("create")
def create(
    clinic: ClinicOption,
    patient: Annotated[str, typer.Option("--patient", help="The patient's id (search first).")],
    day: Annotated[str, typer.Option("--date", help="The clinic day, YYYY-MM-DD.")],
    start: Annotated[str, typer.Option("--start", help="HH:MM, clinic time.")],
    reason: Annotated[str, typer.Option("--reason", help="Why the visit.")],
    end: Annotated[
        str | None, typer.Option("--end", help="HH:MM; default: the type's visit length.")
    ] = None,
    room: Annotated[str | None, typer.Option("--room", help="The column (room) id.")] = None,
    kind: Annotated[str | None, typer.Option("--type", help="The appointment type id.")] = None,
    provider: Annotated[str | None, typer.Option("--provider", help="The vet's id.")] = None,
    hold: Annotated[str | None, typer.Option("--hold", help="A hold on this slot.")] = None,
    key: KeyOption = None,
    as_json: bool = JsonOption,
) -> None:
    """Book an appointment for an existing patient, exactly once per --key."""
    clinic_id = parse_id(clinic, "--clinic")
    try:
        order = BookingOrder(
            day=_day(day),
            start_time=_clock(start, "--start"),
            end_time=None if end is None else _clock(end, "--end"),
            reason=reason,
            patient_id=patient,
            room_id=room,
            type_id=kind,
            provider_id=provider,
            hold_id=None if hold is None else parse_id(hold, "--hold"),
        )
    except InvalidInputError as error:
        fail(error.message)
    write_key = _key(key)
    started = time.monotonic()

    async def work(services: Services) -> BookingOut:
        found = await _clinic(services, clinic_id)
        try:
            outcome = await services.bookings.create(found, order, key=write_key)
        except SlotUnavailableError as error:
            fail(_alternatives(error))
        return _out(found, outcome, started)

    _answer("Booked", with_services(work, upgrade_sqlite=True), write_key, as_json)


@app.command("cancel")
def cancel(
    clinic: ClinicOption,
    appointment: Annotated[str, typer.Argument(help="The IDEXX appointment id.")],
    reason: Annotated[str | None, typer.Option("--reason", help="Said to IDEXX.")] = None,
    key: KeyOption = None,
    as_json: bool = JsonOption,
) -> None:
    """Cancel an appointment (confirmed by reading it back)."""
    clinic_id = parse_id(clinic, "--clinic")
    write_key = None if key is None else _key(key)
    try:
        order = CancelOrder(appointment, reason)
    except InvalidInputError as error:
        fail(error.message)
    started = time.monotonic()

    async def work(services: Services) -> BookingOut:
        found = await _clinic(services, clinic_id)
        outcome = await services.bookings.cancel(found, order, key=write_key)
        return _out(found, outcome, started)

    _answer("Cancelled", with_services(work, upgrade_sqlite=True), write_key, as_json)


def _answer(verb: str, answer: BookingOut, key: str | None, as_json: bool) -> None:
    if as_json:
        emit_json(answer.wire())
    else:
        _say(verb, answer, key)


def _key(given: str | None) -> str:
    if given is None:
        made = str(uuid.uuid4())
        typer.echo(f"Idempotency-Key: {made} (repeat with --key {made})", err=True)
        return made
    try:
        return check_key(given)
    except InvalidInputError as error:
        fail(error.message)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--date must be a day, YYYY-MM-DD, got {text!r}")


def _clock(text: str, option: str) -> clock:
    try:
        if len(text) != 5:
            raise ValueError(text)
        return clock.fromisoformat(text)
    except ValueError:
        fail(f"{option} must be HH:MM, got {text!r}")


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
