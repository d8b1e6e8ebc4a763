"""The outbox under kill -9: every committed case change has exactly one event, none other.

A real `pims-sync serve` (Postgres, Chromium, the simulator as its own process) runs full
syncs while the simulated clinic changes between them (cancellations, moves, deletions,
notes); each sync is killed with SIGKILL at a random moment (the seed is printed). A test
trigger on `cases` records every committed row version in a table of its own, in the same
transaction as the write, so the table holds exactly the committed history: a batch rolled
back by the kill leaves no version there, as it must leave no event. After a final clean
sync, the events are compared with that history:

- every case's events, in `seq` order, are those its committed versions call for (one per
  visible change, `case.created` first, none for a re-write that changed nothing);
- no event names a case that has no committed version (a rolled-back creation);
- `seq` runs 1..N without a gap;
- every ended top-level run has exactly one `sync.*` event (the killed ones `sync.failed`
  with `errorCode: "abandoned"`), and no event names another run.

Cost: one `serve` per round (ROUNDS, 7) and a final one, real Chromium logins; about 90 s.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import tempfile
import time
import uuid
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import psycopg
import pytest
from psycopg.rows import dict_row

from pims_sync.domain.change_events import case_event
from pims_sync.ports.store import StoredCase
from tests.conftest import migrated_database
from tests.integration.scheduling.harness import Serve, spawn_serve, wait_for
from tests.reliability.process_stack import FROZEN_AT, WINDOW, SimProcess, World, start_async

if TYPE_CHECKING:
    from pims_sync.simulator.server import BackgroundSimulator

pytestmark = [pytest.mark.postgres, pytest.mark.browser]

ROUNDS = 7
SERVE_ENV = {
    "PIMS_RATE_LIMIT_PER_SECOND": "50",
    "RUN_STALE_SECONDS": "4",
    "SHUTDOWN_GRACE_SECONDS": "2",
}
# Every committed row version of `cases`, written by the same transaction as the row.
HISTORY = """
CREATE TABLE outbox_test_history (
    n bigserial PRIMARY KEY, case_id uuid, clinic_id uuid, external_id text, source text,
    status text, type text, scheduled_at timestamptz, metadata jsonb);
CREATE FUNCTION outbox_test_record() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO outbox_test_history
        (case_id, clinic_id, external_id, source, status, type, scheduled_at, metadata)
    VALUES (NEW.id, NEW.clinic_id, NEW.external_id, NEW.source, NEW.status, NEW.type,
            NEW.scheduled_at, NEW.metadata);
    RETURN NEW;
END $$;
CREATE TRIGGER outbox_test_history AFTER INSERT OR UPDATE ON cases
    FOR EACH ROW EXECUTE FUNCTION outbox_test_record();
"""


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix="pims-sync-outbox-faults-"))
    yield path
    if not os.environ.get("KEEP_FAULT_WORKDIR"):
        shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database on the shared test server, with the history trigger."""
    with migrated_database("postgres", tmp_path_factory.mktemp("outbox"), "outbox") as url:
        with psycopg.connect(_conninfo(url), autocommit=True) as conn:
            conn.execute(HISTORY)  # type: ignore[arg-type]  # DDL, no parameters
        yield url


@pytest.fixture(scope="module")
def sim(workdir: Path) -> Iterator[SimProcess]:
    simulator = SimProcess(workdir)
    simulator.start()
    yield simulator
    simulator.close()


def _conninfo(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://")


def _serve(url: str, sim: SimProcess, workdir: Path, label: str) -> Serve:
    return spawn_serve(url, cast("BackgroundSimulator", sim), workdir, label, **SERVE_ENV)


def _change_the_clinic(sim: SimProcess, rng: random.Random, truth: dict[str, Any]) -> None:
    """What a clinic does between two syncs: cancel, move, delete, restore, write notes."""
    live = sorted(truth.values(), key=lambda e: str(e["id"]))
    picked = rng.sample(live, k=3)
    cancel, move, delete = (str(e["id"]) for e in picked[:3])
    sim.post(f"/appointments/{cancel}/cancel", {"reason": "Owner called"})
    later = (FROZEN_AT + rng.choice([1, -1]) * (FROZEN_AT - FROZEN_AT.replace(hour=0))).replace(
        hour=rng.choice([9, 10, 11, 14, 15]), minute=rng.choice([0, 15, 30, 45]), second=0
    )
    sim.post(f"/appointments/{move}/move", {"start": later.strftime("%Y-%m-%d %H:%M:%S")})
    sim.post(f"/appointments/{delete}/delete")
    consultations = [e["consultation_id"] for e in live if e.get("consultation_id")]
    if consultations:
        text = f"<p>Round note {rng.randrange(10**6)}</p>"
        sim.post(f"/consultations/{rng.choice(consultations)}/notes", {"notes": text})


def _rows(url: str, query: str, clinic_id: uuid.UUID) -> list[dict[str, Any]]:
    with psycopg.connect(_conninfo(url), row_factory=dict_row) as conn:
        return list(conn.execute(query, {"clinic": clinic_id}))  # type: ignore[arg-type]


def _version(row: dict[str, Any]) -> StoredCase:
    return StoredCase(
        id=row["case_id"],
        clinic_id=row["clinic_id"],
        external_id=row["external_id"],
        source=row["source"],
        status=row["status"],
        type=row["type"],
        scheduled_at=row["scheduled_at"],
        metadata=row["metadata"],
    )


def _expected_case_events(history: list[dict[str, Any]]) -> dict[str, list[tuple[Any, ...]]]:
    """Per case, the (type, changedFields) its committed versions call for, in order."""
    expected: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    previous: dict[str, StoredCase] = {}
    for row in history:
        version = _version(row)
        key = str(version.id)
        event = case_event(previous.get(key), version)
        if event is not None:
            expected[key].append((event.type.value, event.payload.get("changedFields")))
        previous[key] = version
    return expected


def test_kill_9_during_syncs_leaves_exactly_the_committed_events(
    database: str, sim: SimProcess, workdir: Path
) -> None:
    seed = int(os.environ.get("OUTBOX_FAULT_SEED", random.randrange(10**6)))
    print(f"outbox fault seed: {seed} (OUTBOX_FAULT_SEED={seed} repeats it)")
    rng = random.Random(seed)
    sim.calm()
    sim.slow("page-data", 400)  # batches of notes keep coming while the run is killed
    world = World(database, sim)
    killed_mid_run = 0
    for round_number in range(ROUNDS):
        serve = _serve(database, sim, workdir, f"round-{round_number}")
        with world.client(serve.port) as client:
            wait_for(lambda: not world.live_runs(), 30, "the last round's run is still live")
            run_id = start_async(client, "full", WINDOW)
            time.sleep(rng.uniform(0.5, 5.0))
            serve.stop(signal.SIGKILL, timeout=30)
        killed_mid_run += world.audit(run_id)["status"] == "in_progress"
        _change_the_clinic(sim, rng, sim.appointments())
        time.sleep(4.5)  # RUN_STALE_SECONDS: the next serve takes the killed run over
    sim.calm()
    final = _serve(database, sim, workdir, "final")
    with world.client(final.port) as client:
        wait_for(lambda: not world.live_runs(), 30, "a killed run is still live")
        answer = client.post("/api/sync/full", json=WINDOW)
    final.stop(signal.SIGTERM, timeout=60)
    assert answer.status_code in (200, 207), answer.text
    assert killed_mid_run >= ROUNDS // 2, f"only {killed_mid_run} kills landed mid-run"

    clinic = world.clinic_id
    history = _rows(
        database,
        "SELECT * FROM outbox_test_history WHERE clinic_id = %(clinic)s ORDER BY n",
        clinic,
    )
    events = _rows(
        database, "SELECT * FROM sync_events WHERE clinic_id = %(clinic)s ORDER BY seq", clinic
    )
    runs = _rows(
        database,
        "SELECT id, status, error_message FROM case_sync_audits"
        " WHERE clinic_id = %(clinic)s AND parent_id IS NULL",
        clinic,
    )
    world.close()

    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    actual: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
    for event in events:
        if event["type"].startswith("case."):
            actual[event["subject_id"]].append(
                (event["type"], event["payload"].get("changedFields"))
            )
    expected = _expected_case_events(history)
    assert set(actual) <= {str(row["case_id"]) for row in history}, "an event of no committed case"
    assert dict(actual) == dict(expected)
    assert sum(len(v) for v in actual.values()) > len(actual), "no case changed after its creation"

    sync_events = defaultdict(list)
    for event in events:
        if event["type"].startswith("sync."):
            sync_events[event["subject_id"]].append(event)
    ended = {str(r["id"]): r for r in runs if r["status"] != "in_progress"}
    assert set(sync_events) == set(ended)
    for run_id, found in sync_events.items():
        assert len(found) == 1, (run_id, found)
        assert found[0]["type"] == f"sync.{ended[run_id]['status']}"
        if ended[run_id]["error_message"] == "abandoned":
            assert found[0]["payload"]["errorCode"] == "abandoned"
    abandoned = sum(1 for r in ended.values() if r["error_message"] == "abandoned")
    print(
        f"{len(history)} committed case versions, {len(events)} events "
        f"({sum(len(v) for v in actual.values())} case events, {len(sync_events)} runs, "
        f"{abandoned} abandoned); {killed_mid_run} of {ROUNDS} kills landed mid-run"
    )
