"""`GET /api/clinic`: which clinic an API key acts for, and what it may do."""

from __future__ import annotations

from fastapi import APIRouter

from pims_sync.api.deps import ApiKeyDep, QueryClinicDep
from pims_sync.api.responses import AUTHENTICATED_ERRORS, error_responses
from pims_sync.shapes.clinics import ApiKeyOut, ClinicInfo, ClinicOut

router = APIRouter(prefix="/api", tags=["clinic"])


@router.get("/clinic", response_model=ClinicInfo, responses=error_responses(*AUTHENTICATED_ERRORS))
async def get_clinic(key: ApiKeyDep, clinic: QueryClinicDep) -> ClinicInfo:
    """The key's clinic (a service key names it with `?clinicId=`) and its permissions."""
    return ClinicInfo(clinic=ClinicOut.of(clinic), api_key=ApiKeyOut.of(key))
