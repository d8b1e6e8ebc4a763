"""`pims-sync credentials set|rotate` (and `test`): a clinic's PIMS login, encrypted at rest.

Setting a clinic's credentials resumes it if it was paused because the PIMS refused its
password (docs/freshness.md).

Commands are registered on the module-level `app`; another command (such as
`credentials test`) is added with `@app.command("test")` and can reuse
`ClinicOption`, `parse_id` and `services.vault.load`.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from typing import Annotated
from uuid import UUID

import typer

from pims_sync.bootstrap import Services
from pims_sync.cli.common import (
    JsonOption,
    emit_json,
    fail,
    parse_id,
    settings_or_exit,
    with_services,
)
from pims_sync.domain.credentials import PimsCredentials, check_base_url
from pims_sync.domain.health import PauseKind
from pims_sync.errors import ConfigError, InvalidInputError, NotFoundError

app = typer.Typer(
    name="credentials",
    help="Store, test and rotate a clinic's PIMS credentials (encrypted with ENCRYPTION_KEY).",
    no_args_is_help=True,
)

ClinicOption = Annotated[str, typer.Option("--clinic", help="The clinic's id.")]


def read_password(given: str | None) -> str:
    """The password from the option, else a hidden prompt on a terminal, else stdin's first line."""
    if given is not None:
        return given
    if sys.stdin.isatty():
        password: str = typer.prompt("PIMS password", hide_input=True, err=True)
        return password
    # Only the line ending is removed: spaces may be part of a password.
    return sys.stdin.readline().rstrip("\r\n")


async def require_clinic(services: Services, clinic_id: UUID) -> None:
    """NotFoundError unless the clinic exists."""
    if await services.clinics.get(clinic_id) is None:
        raise NotFoundError(f"no clinic with id {clinic_id} (see `pims-sync clinics list`)")


@app.command("set")
def set_credentials(
    clinic: ClinicOption,
    username: Annotated[str, typer.Option("--username", help="PIMS login name.")],
    password: Annotated[
        str | None,
        typer.Option(
            "--password",
            help="PIMS password; prefer the prompt or one line on stdin (kept out of history).",
        ),
    ] = None,
    company_id: Annotated[
        str | None, typer.Option("--company-id", help="IDEXX Neo company (practice) id.")
    ] = None,
    base_url: Annotated[
        str | None, typer.Option("--base-url", help="This clinic's PIMS URL (else IDEXX_BASE_URL).")
    ] = None,
    as_json: bool = JsonOption,
) -> None:
    """Encrypt and store a clinic's PIMS login (replacing any stored one)."""
    clinic_id = parse_id(clinic, "--clinic")
    # Fail on a missing key (or a refused URL) before asking for a password that could
    # not be stored.
    settings = settings_or_exit()
    try:
        settings.require_encryption_key()
    except ConfigError as error:
        fail(error.message, code=2)
    if base_url:
        base_url = allowed_base_url(base_url, allow_private=settings.pims_allow_private_base_url)
    credentials = build_credentials(username, read_password(password), company_id, base_url)

    async def _store(services: Services) -> bool:
        vault = services.vault
        await require_clinic(services, clinic_id)
        await vault.save(clinic_id, credentials)
        # A clinic paused because the PIMS refused its password runs again with the new one.
        return await services.health.resume(
            clinic_id=clinic_id,
            at=datetime.now(UTC),
            by="new credentials",
            only=PauseKind.CREDENTIALS,
        )

    resumed = with_services(_store, upgrade_sqlite=True)
    if as_json:
        stored = {**credentials_json(credentials), "clinicId": str(clinic_id), "stored": True}
        emit_json({**stored, "resumed": resumed})
        return
    typer.echo(f"Stored encrypted PIMS credentials for clinic {clinic_id}.")
    if resumed:
        typer.echo(f"Clinic {clinic_id} resumed: it was paused for its refused password.")


def build_credentials(
    username: str, password: str, company_id: str | None, base_url: str | None
) -> PimsCredentials:
    """Validated credentials from command-line values, or exit 1 saying what is wrong."""
    if not password:
        fail("no password given (use --password, the prompt, or one line on stdin)")
    try:
        return PimsCredentials(
            username=username.strip(),
            password=password,
            company_id=(company_id or "").strip() or None,
            base_url=base_url.strip() if base_url else None,
        )
    except InvalidInputError as error:
        fail(error.message)


def allowed_base_url(base_url: str, *, allow_private: bool) -> str:
    """The base URL if the service may send a password there, or exit 1 saying why."""
    try:
        return check_base_url(base_url.strip(), allow_private=allow_private)
    except InvalidInputError as error:
        fail(error.message)


def credentials_json(credentials: PimsCredentials) -> dict[str, object]:
    """What may be printed about credentials: everything but the password."""
    return {
        "username": credentials.username,
        "companyId": credentials.company_id,
        "baseUrl": credentials.base_url,
    }


@app.command("rotate")
def rotate(as_json: bool = JsonOption) -> None:
    """Re-encrypt all credentials and webhook secrets under ENCRYPTION_KEY (old: ..._PREVIOUS)."""

    async def _rotate(services: Services) -> tuple[int, int]:
        return await services.vault.rotate(), await services.webhooks.rotate()

    count, secrets = with_services(_rotate, upgrade_sqlite=True)
    if as_json:
        emit_json({"reencrypted": count, "webhookSecrets": secrets})
    else:
        typer.echo(
            f"Re-encrypted {count} credential row(s) and {secrets} webhook secret(s) "
            "under the current ENCRYPTION_KEY."
        )


def register(root: typer.Typer) -> None:
    """Add this module's commands to the root command."""
    root.add_typer(app)


@app.command("test")
def check_login(clinic: ClinicOption, as_json: bool = JsonOption) -> None:
    """Log in to the clinic's PIMS with the stored credentials; report success or its message."""
    from pims_sync.errors import PimsError
    from pims_sync.ports.provider import ClinicLogin

    clinic_id = parse_id(clinic, "--clinic")

    async def _test(services: Services) -> dict[str, object]:
        record = await services.clinics.get(clinic_id)
        if record is None:
            raise NotFoundError(f"no clinic with id {clinic_id} (see `pims-sync clinics list`)")
        login = ClinicLogin(clinic_id, await services.vault.load(clinic_id), record.timezone)
        try:
            seconds = await services.check_login(login)  # Playwright is imported only then
        except PimsError as error:
            return {
                "clinicId": str(clinic_id),
                "ok": False,
                "code": error.code,
                "message": str(error),
            }
        return {"clinicId": str(clinic_id), "ok": True, "seconds": round(seconds, 2)}

    outcome = with_services(_test, upgrade_sqlite=True)
    if as_json:
        emit_json(outcome)
    elif outcome["ok"]:
        typer.echo(f"PIMS login OK for clinic {clinic_id} ({outcome['seconds']} s).")
    if not outcome["ok"]:
        if not as_json:
            typer.echo(f"error: {outcome['message']}", err=True)
        raise typer.Exit(1)
