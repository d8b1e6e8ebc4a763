"""Schedule configs, fire claims and crash recovery on SQLite and Postgres; status API; CLI."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import pytest
from typer.testing import CliRunner

from pims_sync.bootstrap import Services
from pims_sync.cli.app import app as cli
from pims_sync.domain.runs import RunStatus, SyncType, Trigger
from pims_sync.ports.schedules import FireStatus
from tests.integration.api.conftest import client_for, insert_key

NOW = datetime(2026, 6, 1, 13, 0, tzinfo=UTC)


async def test_configs_round_trip_and_only_active_clinics(services: Services) -> None:
    clinic = await services.clinics.add(name="A", timezone="Europe/Berlin")
    other = await services.clinics.add(name="B")
    await services.schedules.put(clinic.id, [{"type": "inbound", "cron": "0 6 * * *"}])
    await services.schedules.put(clinic.id, [{"type": "cases", "cron": "0 7 * * *"}])
    configs = {c.clinic_id: c for c in await services.schedules.configs()}
    assert list(configs[clinic.id].entries) == [{"type": "cases", "cron": "0 7 * * *"}]
    assert configs[clinic.id].timezone == "Europe/Berlin"
    assert list(configs[other.id].entries) == []
    mine = await services.schedules.get(clinic.id)
    assert mine is not None
    assert mine.parsed.schedules[0].type is SyncType.CASES


async def test_concurrent_claims_of_one_fire_time_have_one_winner(services: Services) -> None:
    clinic = await services.clinics.add(name="A")
    claims = await asyncio.gather(
        *(
            services.fires.claim(
                clinic_id=clinic.id, sync_type=SyncType.FULL, fire_at=NOW, by=f"p{i}", at=NOW
            )
            for i in range(8)
        )
    )
    winners = [c for c in claims if c is not None]
    assert len(winners) == 1
    assert not await services.fires.skip(
        clinic_id=clinic.id, sync_type=SyncType.FULL, fire_at=NOW, reason="x", by="p", at=NOW
    )
    await services.fires.mark(winners[0], status=FireStatus.COMPLETED, at=NOW, run_by="p1")
    [latest] = await services.fires.latest([clinic.id])
    assert (latest.status, latest.run_by, latest.finished_at) == (FireStatus.COMPLETED, "p1", NOW)


async def test_stale_runs_are_abandoned_live_ones_kept_and_fires_settled(
    services: Services,
) -> None:
    dead = await services.clinics.add(name="dead")
    alive = await services.clinics.add(name="alive")
    old = datetime.now(UTC) - timedelta(minutes=10)
    dead_run = await services.runs.start(
        clinic_id=dead.id, sync_type=SyncType.FULL, triggered_by=Trigger.SCHEDULER, at=old
    )
    phase = await services.runs.start(
        clinic_id=dead.id,
        sync_type=SyncType.INBOUND,
        triggered_by=Trigger.SCHEDULER,
        parent_id=dead_run.id,
        at=old,
    )
    live_run = await services.runs.start(
        clinic_id=alive.id, sync_type=SyncType.FULL, triggered_by=Trigger.SCHEDULER, at=old
    )
    await services.runs.heartbeat(run_id=live_run.id, at=datetime.now(UTC))
    fire = await services.fires.claim(
        clinic_id=dead.id, sync_type=SyncType.FULL, fire_at=old, by="p", at=old
    )
    assert fire is not None
    await services.fires.mark(fire, status=FireStatus.STARTED, at=old, run_id=dead_run.id)

    now = datetime.now(UTC)
    assert await services.recovery.abandon_stale(at=now, stale_after=timedelta(minutes=2)) == [
        dead_run.id
    ]
    lost = await services.fires.claim(
        clinic_id=alive.id, sync_type=SyncType.CASES, fire_at=old, by="gone", at=old
    )
    assert await services.recovery.settle_fires(at=now, stale_after=timedelta(minutes=2)) == 2
    [lost_fire] = [f for f in await services.fires.latest([alive.id]) if f.id == lost]
    assert lost_fire.status is FireStatus.FAILED
    for run_id in (dead_run.id, phase.id):
        run = await services.runs.get(clinic_id=dead.id, run_id=run_id)
        assert run is not None
        assert (run.status, run.error_message) == (RunStatus.FAILED, "abandoned")
    kept = await services.runs.get(clinic_id=alive.id, run_id=live_run.id)
    assert kept is not None
    assert kept.status is RunStatus.IN_PROGRESS
    [settled] = await services.fires.latest([dead.id])
    assert (settled.status, settled.reason) == (FireStatus.FAILED, "abandoned")


async def test_status_endpoint_shape_and_scope(services: Services) -> None:
    from pims_sync.api.app import create_app

    clinic = await services.clinics.add(name="Happy Paws", timezone="America/Chicago")
    other = await services.clinics.add(name="Other")
    await services.schedules.put(
        clinic.id,
        [
            {"type": "inbound", "cron": "0 6 * * *", "options": {"daysAhead": 3}},
            {"type": "cases", "cron": "0 7 * * *", "enabled": False},
            {"type": "bogus", "cron": "0 7 * * *"},
        ],
    )
    await services.schedules.put(other.id, [{"type": "full", "cron": "0 1 * * *"}])
    fire_at = datetime.now(UTC) - timedelta(hours=1)
    await services.fires.skip(
        clinic_id=clinic.id,
        sync_type=SyncType.INBOUND,
        fire_at=fire_at,
        reason="clinic busy: run x in progress",
        by="p",
        at=fire_at,
    )
    _, key = await insert_key(services, clinic_id=clinic.id)
    _, service_key = await insert_key(services, clinic_id=None)
    async with client_for(create_app(services.settings, services)) as http:
        mine = (await http.get("/api/scheduler/status", headers={"X-API-Key": key})).json()
        every = (await http.get("/api/scheduler/status", headers={"X-API-Key": service_key})).json()
        missing = await http.get("/api/scheduler/status")
    assert missing.status_code == 401
    assert (mine["running"], mine["totalJobs"], mine["jobsByType"]) == (False, 1, {"inbound": 1})
    inbound, cases = mine["jobs"]
    assert inbound["clinicName"] == "Happy Paws"
    assert inbound["clinicTimezone"] == "America/Chicago"
    assert (inbound["type"], inbound["cron"], inbound["enabled"]) == ("inbound", "0 6 * * *", True)
    assert inbound["nextRunAt"].endswith("Z")
    assert inbound["lastRun"]["status"] == "skipped"
    assert inbound["lastRun"]["reason"] == "clinic busy: run x in progress"
    assert (cases["enabled"], cases["nextRunAt"], cases["lastRun"]) == (False, None, None)
    assert mine["invalidSchedules"][0]["index"] == 2
    assert every["totalJobs"] == 2
    assert {j["clinicId"] for j in every["jobs"]} == {str(clinic.id), str(other.id)}


def test_schedules_cli_set_list_remove(
    migrated_database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", migrated_database_url)
    runner = CliRunner()
    added = runner.invoke(cli, ["clinics", "add", "--name", "Paws", "--timezone", "Europe/Berlin"])
    clinic = added.stdout.strip()
    result = runner.invoke(
        cli,
        [
            "schedules",
            "set",
            "--clinic",
            clinic,
            "--type",
            "inbound",
            "--cron",
            "0 6 * * *",
            "--options",
            '{"daysAhead": 14}',
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["options"] == {"daysAhead": 14}
    disabled = runner.invoke(
        cli,
        [
            "schedules",
            "set",
            "--clinic",
            clinic,
            "--type",
            "cases",
            "--cron",
            "0 7 * * *",
            "--disabled",
        ],
    )
    assert disabled.exit_code == 0, disabled.output
    bad = runner.invoke(
        cli, ["schedules", "set", "--clinic", clinic, "--type", "full", "--cron", "0 25 * * *"]
    )
    assert bad.exit_code == 1
    assert "not a valid cron" in bad.output
    listed = json.loads(
        runner.invoke(cli, ["schedules", "list", "--clinic", clinic, "--json"]).stdout
    )
    assert [(s["type"], s["enabled"]) for s in listed["schedules"]] == [
        ("inbound", True),
        ("cases", False),
    ]
    assert listed["schedules"][0]["clinicTimezone"] == "Europe/Berlin"
    removed = runner.invoke(cli, ["schedules", "remove", "--clinic", clinic, "--type", "cases"])
    assert removed.exit_code == 0, removed.output
    again = runner.invoke(cli, ["schedules", "remove", "--clinic", clinic, "--type", "cases"])
    assert again.exit_code == 1
    assert "has no cases schedule" in again.output
    text = runner.invoke(cli, ["schedules", "list"])
    assert "0 6 * * *" in text.stdout


async def test_patch_sets_enables_and_disables_a_schedule(services: Services) -> None:
    from pims_sync.api.app import create_app

    clinic = await services.clinics.add(name="Happy Paws", timezone="America/Chicago")
    await services.schedules.put(clinic.id, [{"type": "cases", "cron": "0 7 * * *"}])
    _, key = await insert_key(services, clinic_id=clinic.id)
    _, inbound_only = await insert_key(services, clinic_id=clinic.id, permissions=["sync:inbound"])
    url = "/api/scheduler/schedules"
    async with client_for(create_app(services.settings, services)) as http:
        headers = {"X-API-Key": key}
        missing_cron = await http.patch(url, json={"type": "inbound"}, headers=headers)
        created = await http.patch(
            url,
            json={"type": "inbound", "cron": "0 6 * * *", "options": {"daysAhead": 3}},
            headers=headers,
        )
        disabled = await http.patch(
            url, json={"type": "inbound", "enabled": False}, headers=headers
        )
        bad = await http.patch(url, json={"type": "cases", "cron": "0 25 * * *"}, headers=headers)
        denied = await http.patch(
            url, json={"type": "cases", "enabled": False}, headers={"X-API-Key": inbound_only}
        )
    assert missing_cron.status_code == 400
    assert "cron is required" in missing_cron.json()["error"]
    assert created.status_code == 200, created.text
    assert created.json()["job"]["nextRunAt"] is not None
    job = disabled.json()["job"]
    assert (job["cron"], job["enabled"], job["options"]) == ("0 6 * * *", False, {"daysAhead": 3})
    assert bad.status_code == 400
    assert "not a valid cron" in bad.json()["error"]
    assert denied.status_code == 403
    stored = await services.schedules.get(clinic.id)
    assert stored is not None
    assert [(e["type"], e.get("enabled", True)) for e in stored.entries] == [
        ("cases", True),
        ("inbound", False),
    ]
