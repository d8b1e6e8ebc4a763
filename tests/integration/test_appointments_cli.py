"""`pims-sync appointments`: what it refuses before any PIMS request, on SQLite and Postgres.

Booking through it against the simulator with real Chromium:
tests/e2e/test_booking_end_to_end.py.
"""

from __future__ import annotations

import uuid

from tests.integration.test_admin_cli import Invoke, _add_clinic, cli

__all__ = ["cli"]


def test_refusals_name_the_option_and_book_nothing(cli: Invoke) -> None:
    clinic = _add_clinic(cli)
    base = ["appointments", "create", "--clinic", clinic, "--patient", "48290", "--reason", "Exam"]
    cases = [
        (["--date", "2026-02-30", "--start", "09:00"], "--date must be a day, YYYY-MM-DD"),
        (["--date", "2026-06-09", "--start", "9:00"], "--start must be HH:MM, got '9:00'"),
        (["--date", "2026-06-09", "--start", "09:00", "--end", "08:00"], "endTime must be after"),
        (["--date", "2026-06-09", "--start", "09:00", "--key", "a b"], "Idempotency-Key must be"),
    ]
    for extra, message in cases:
        result = cli(*base, *extra)
        assert result.exit_code == 1, result.output
        assert message in result.output
    unknown = str(uuid.uuid4())
    result = cli("appointments", "cancel", "--clinic", unknown, "123")
    assert result.exit_code == 1
    assert f"Clinic not found: {unknown}" in result.output
