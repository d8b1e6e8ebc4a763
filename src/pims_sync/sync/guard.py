"""The pipeline's side of self-protection: refusing a paused clinic, and how a run ended."""

from __future__ import annotations

from uuid import UUID

from pims_sync.domain.health import ClinicHealth, RunEnd
from pims_sync.errors import ClinicPausedError
from pims_sync.sync.outcomes import SyncOutcome, run_error_code


def paused_error(health: ClinicHealth) -> ClinicPausedError:
    """Why a paused clinic's run is refused, and how to resume it."""
    pause = health.pause
    why = pause.text if pause is not None else "paused"
    clinic = health.clinic_id
    return ClinicPausedError(
        f"Clinic {clinic} is paused (resume it with `pims-sync clinics resume` or "
        f'PATCH /api/clinic {{"paused": false}}): {why}',
        clinic_id=str(clinic),
    )


def run_end(run_id: UUID, outcome: SyncOutcome) -> RunEnd:
    """How a run that reached its end did: well, or with its first failure's code."""
    if outcome.success:
        return RunEnd(success=True, run_id=run_id)
    return RunEnd(success=False, code=run_error_code(outcome) or "internal_error", run_id=run_id)
