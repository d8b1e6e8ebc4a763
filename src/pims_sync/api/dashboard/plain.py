"""A failed run's error code in plain words, for the operator reading the clinic page."""

from __future__ import annotations

from typing import Any

PLAIN = {
    "pims_unavailable": "The PIMS could not be reached (it is down, or the way to it is "
    "broken). Nothing was changed; the next run tries again.",
    "pims_auth_failed": "The PIMS refused the stored username or password. Store the right "
    "ones (pims-sync credentials set); the clinic stays paused until then.",
    "pims_login_page_changed": "The PIMS login page is not the one the service knows, so it "
    "could not log in.",
    "pims_two_factor_required": "The PIMS account asks for a second factor, which the "
    "service cannot give. Use an account without it.",
    "pims_browser_unavailable": "The service's browser (Chromium) could not start on this machine.",
    "pims_session_expired": "The PIMS session ended in the middle of the run.",
    "pims_request_rejected": "The PIMS refused one of the service's requests.",
    "pims_payload_invalid": "The PIMS answered with data the service could not read.",
    "sync_timeout": "The run took longer than it is allowed to and was stopped.",
    "reconciliation_guard": "Reconciliation stopped itself: it would have deleted too many "
    "cases at once.",
    "pims_budget_exhausted": "The clinic's daily budget of PIMS requests is used up; runs "
    "go on after midnight UTC.",
    "pims_login_budget_exhausted": "The clinic's daily budget of PIMS logins is used up; "
    "runs go on after midnight UTC.",
    "storage_unavailable": "The service's own database was unavailable during the run.",
    "decryption_failed": "The stored PIMS credentials could not be decrypted (was "
    "ENCRYPTION_KEY changed?).",
    "clinic_paused": "The clinic is paused: runs are refused until it is resumed.",
}


def error_code(result: Any) -> str | None:
    """The error code a failed run's result records, if any."""
    if isinstance(result, dict) and isinstance(result.get("code"), str):
        return str(result["code"])
    return None


def in_plain_words(result: Any) -> str | None:
    """What went wrong, for a person; None when the code is not one we can explain."""
    code = error_code(result)
    return PLAIN.get(code) if code is not None else None
