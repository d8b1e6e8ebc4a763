"""`pims-sync webhooks add|list|remove|test|deliveries|replay`: a clinic's webhook endpoints."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import (
    JsonOption,
    emit_json,
    fail,
    format_time,
    parse_id,
    print_table,
    with_services,
)
from pims_sync.domain.webhooks import WebhookEndpoint
from pims_sync.errors import NotFoundError
from pims_sync.shapes.webhooks import (
    DeliveryOut,
    WebhookCreated,
    WebhookOut,
    WebhookTestAnswer,
)

app = typer.Typer(
    name="webhooks",
    help="Send a clinic's events to HTTP endpoints, signed (docs/webhooks.md).",
    no_args_is_help=True,
)

ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]
IdArgument = Annotated[
    str, typer.Argument(metavar="ID", help="The webhook's id (from `webhooks list`).")
]


async def _require_clinic(services: Services, clinic_id: UUID) -> None:
    if await services.clinics.get(clinic_id) is None:
        raise NotFoundError(f"no clinic with id {clinic_id} (see `pims-sync clinics list`)")


@app.command("add")
def add(
    clinic: ClinicOption,
    url: Annotated[str, typer.Option("--url", help="http(s) URL the events are POSTed to.")],
    events: Annotated[
        str | None,
        typer.Option("--events", help="Comma-separated event types, e.g. case.created; omit=all."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="A label for the endpoint.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Add an endpoint for the clinic's events from now on; print its secret once."""
    clinic_id = parse_id(clinic, "--clinic")
    wanted = None if events is None else events.split(",")
    if wanted is not None and not any(name.strip() for name in wanted):
        fail("--events must name at least one event type (or omit it for every type)")

    async def _add(services: Services) -> tuple[WebhookEndpoint, str]:
        await _require_clinic(services, clinic_id)
        return await services.webhook_admin.add(
            clinic_id=clinic_id, url=url, event_types=wanted, description=description
        )

    endpoint, secret = with_services(_add, upgrade_sqlite=True)
    typer.echo(
        f"Save this signing secret now: it will not be shown again (webhook {endpoint.id}).",
        err=True,
    )
    if as_json:
        emit_json(WebhookCreated(webhook=WebhookOut.of(endpoint), secret=secret).wire())
    else:
        typer.echo(secret)


@app.command("list")
def list_webhooks(
    clinic: Annotated[
        str | None, typer.Option("--clinic", help="Only this clinic's webhooks.")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """List webhook endpoints with their cursor and state (never their secrets)."""
    clinic_id = parse_id(clinic, "--clinic") if clinic is not None else None
    found = with_services(
        lambda services: services.webhook_admin.endpoints(clinic_id), upgrade_sqlite=True
    )
    if as_json:
        emit_json([WebhookOut.of(endpoint).wire() for endpoint in found])
        return
    if not found:
        typer.echo("No webhooks: add one with `pims-sync webhooks add`.", err=True)
        return
    columns = ("id", "clinic", "url", "events", "state", "delivered seq", "failing since")
    print_table("Webhooks", columns, [_row(endpoint) for endpoint in found])


def _row(endpoint: WebhookEndpoint) -> tuple[object, ...]:
    if endpoint.is_active:
        state = "active" if endpoint.attempt == 0 else f"retrying ({endpoint.attempt} failed)"
    else:
        state = f"disabled: {endpoint.disabled_reason}"
    return (
        endpoint.id,
        endpoint.clinic_id,
        endpoint.url,
        ",".join(endpoint.event_types) if endpoint.event_types is not None else "(all)",
        state,
        endpoint.delivered_seq,
        format_time(endpoint.failing_since),
    )


@app.command("remove")
def remove(webhook_id: IdArgument, as_json: bool = JsonOption) -> None:
    """Remove an endpoint and its delivery log; nothing more is sent to it."""
    parsed = parse_id(webhook_id, "ID")
    with_services(
        lambda services: services.webhook_admin.remove(clinic_id=None, endpoint_id=parsed),
        upgrade_sqlite=True,
    )
    if as_json:
        emit_json({"id": str(parsed), "removed": True})
    else:
        typer.echo(f"Removed webhook {parsed}.")


@app.command("test")
def send_test(webhook_id: IdArgument, as_json: bool = JsonOption) -> None:
    """Send a signed `webhook.test` event now and print the receiver's answer."""
    parsed = parse_id(webhook_id, "ID")
    sent = with_services(
        lambda services: services.webhook_admin.test(clinic_id=None, endpoint_id=parsed),
        upgrade_sqlite=True,
    )
    result = sent.result
    answer = WebhookTestAnswer(
        delivered=result.ok,
        event_id=sent.event_id,
        status_code=result.status_code,
        duration_ms=result.duration_ms,
        error=result.error,
        body=result.body,
    )
    if as_json:
        emit_json(answer.wire())
    else:
        status = result.status_code if result.status_code is not None else "no answer"
        typer.echo(f"status: {status} in {result.duration_ms} ms (event {sent.event_id})")
        if result.error:
            typer.echo(f"error: {result.error}")
        if result.body:
            typer.echo(result.body)
    if not result.ok:
        raise typer.Exit(1)


@app.command("deliveries")
def deliveries(
    webhook_id: IdArgument,
    limit: Annotated[int, typer.Option("--limit", min=1, max=500, help="How many.")] = 20,
    as_json: bool = JsonOption,
) -> None:
    """The endpoint's latest delivery attempts, newest first."""
    parsed = parse_id(webhook_id, "ID")
    found = with_services(
        lambda services: services.webhook_admin.deliveries(
            clinic_id=None, endpoint_id=parsed, limit=limit
        ),
        upgrade_sqlite=True,
    )
    rows = [DeliveryOut.of(attempt) for attempt in found]
    if as_json:
        emit_json([row.wire() for row in rows])
        return
    columns = ("attempted", "seq", "attempt", "outcome", "status", "ms", "error")
    print_table("Deliveries", columns, [_delivery(row) for row in rows])


def _delivery(row: DeliveryOut) -> tuple[object, ...]:
    return (
        format_time(row.attempted_at),
        row.seq,
        row.attempt,
        row.outcome.value,
        row.status_code if row.status_code is not None else "",
        row.duration_ms,
        row.error or "",
    )


@app.command("replay")
def replay(
    webhook_id: IdArgument,
    from_seq: Annotated[int, typer.Option("--from-seq", min=1, help="The first seq to send.")],
    as_json: bool = JsonOption,
) -> None:
    """Deliver the clinic's events again from a seq (re-enables a disabled endpoint)."""
    parsed = parse_id(webhook_id, "ID")
    endpoint = with_services(
        lambda services: services.webhook_admin.replay(
            clinic_id=None, endpoint_id=parsed, from_seq=from_seq
        ),
        upgrade_sqlite=True,
    )
    if as_json:
        emit_json(WebhookOut.of(endpoint).wire())
    else:
        typer.echo(
            f"Webhook {parsed} will receive the events from seq {from_seq} again "
            "(a running serve or worker delivers them)."
        )


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)
