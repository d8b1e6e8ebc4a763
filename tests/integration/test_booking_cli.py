"""`pims-sync booking show|set` against SQLite and Postgres: the same rules as the API."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

from pims_sync.adapters.sql.tables import clinic_booking_configs
from pims_sync.domain.booking import DEFAULT_RULES, rules_document
from tests.integration.test_admin_cli import Invoke, _add_clinic, _ok, _rows, cli

__all__ = ["cli"]


def test_show_gives_the_defaults_until_set(cli: Invoke) -> None:
    clinic = _add_clinic(cli)
    shown = _ok(cli("booking", "show", "--clinic", clinic)).stdout
    assert f"Booking rules of clinic {clinic} (defaults: none set)" in shown
    assert "  monday     08:00-18:00" in shown
    assert "  sunday     closed" in shown
    as_json = json.loads(_ok(cli("booking", "show", "--clinic", clinic, "--json")).stdout)
    assert as_json == {
        "clinicId": clinic,
        "isDefault": True,
        "rules": rules_document(DEFAULT_RULES),
    }


def test_set_changes_one_rule_at_a_time_and_rules_replace(
    cli: Invoke, migrated_database_url: str, tmp_path: Path
) -> None:
    clinic = _add_clinic(cli)
    changed = _ok(
        cli(
            "booking",
            "set",
            "--clinic",
            clinic,
            "--hours",
            "saturday=closed",
            "--hours",
            "sunday=10:00-12:00,13:00-15:00",
            "--exception",
            "2026-12-25=closed",
            "--visit-minutes",
            "Surgery=120",
            "--bookable-resources",
            "7, 8",
            "--buffer-after",
            "5",
            "--min-notice",
            "30",
            "--days-ahead",
            "14",
            "--rosters-define-working",
            "--json",
        )
    )
    rules = json.loads(changed.stdout)["rules"]
    assert rules["openingHours"]["saturday"] == []
    assert rules["openingHours"]["sunday"] == ["10:00-12:00", "13:00-15:00"]
    assert rules["openingHours"]["monday"] == ["08:00-18:00"]  # untouched
    assert rules["exceptions"] == {"2026-12-25": []}
    assert (rules["visitMinutes"], rules["bookableResourceIds"]) == ({"Surgery": 120}, ["7", "8"])
    assert (rules["bufferAfterMinutes"], rules["minNoticeMinutes"]) == (5, 30)
    assert (rules["maxDaysAhead"], rules["rostersDefineWorking"]) == (14, True)
    again = json.loads(
        _ok(cli("booking", "set", "--clinic", clinic, "--slot-minutes", "20", "--json")).stdout
    )
    assert again["rules"] == {**rules, "slotMinutes": 20}

    document = tmp_path / "rules.json"
    document.write_text(json.dumps({"slotMinutes": 30}), encoding="utf-8")
    replaced = json.loads(
        _ok(cli("booking", "set", "--clinic", clinic, "--rules", f"@{document}", "--json")).stdout
    )
    assert replaced["rules"] == {**rules_document(DEFAULT_RULES), "slotMinutes": 30}
    stored = _rows(migrated_database_url, clinic_booking_configs)
    assert [row.rules for row in stored] == [replaced["rules"]]


def test_refusals_say_why_and_change_nothing(cli: Invoke, migrated_database_url: str) -> None:
    clinic = _add_clinic(cli)
    _ok(cli("booking", "set", "--clinic", clinic, "--slot-minutes", "20"))
    before = _rows(migrated_database_url, clinic_booking_configs)
    for args, message in (
        (("--slot-minutes", "3"), "slotMinutes must be a whole number from 5 to 240"),
        (
            ("--hours", "monday=18:00-08:00"),
            "openingHours.monday: 18:00-08:00 ends before it starts",
        ),
        (("--hours", "funday=08:00-10:00"), "openingHours: unknown day 'funday'"),
        (("--hours", "monday"), "--hours takes NAME=VALUE, got 'monday'"),
        (("--visit-minutes", "Surgery=two"), "--visit-minutes must be a whole number, got 'two'"),
        (("--rules", "{not json"), "--rules is not valid JSON"),
        (("--rules", "[1]"), "--rules must be a JSON object"),
        (("--rules", '{"slot": 1}'), "unknown booking rule 'slot'"),
        (("--exception", "2026-02-30=closed"), "exceptions: 2026-02-30 is not a real date"),
    ):
        refused = cli("booking", "set", "--clinic", clinic, *args)
        assert refused.exit_code == 1, args
        assert refused.stderr.startswith(f"error: {message}"), (args, refused.stderr)
    assert _rows(migrated_database_url, clinic_booking_configs) == before
    unknown = str(uuid.uuid4())
    missing = cli("booking", "show", "--clinic", unknown)
    assert (missing.exit_code, missing.stderr.strip()) == (1, f"error: clinic not found: {unknown}")
