"""Webhook delivery under kill -9: every event at least once, each once after dedupe, in order.

Real processes deliver: on Postgres two `pims-sync worker`s (procrastinate), on SQLite one
`pims-sync serve` (the in-process queue). While the test commits a clinic's events in
batches, the delivering processes are all killed with SIGKILL at random moments and
replaced (on Postgres, their jobs left `doing` are freed by the survivors' recovery).
A receiver on 127.0.0.1 (two endpoints: one wants every type, one two types) records every
request and checks each signature with plain `hmac`. Then:

- every event an endpoint wants reached it at least once (none lost);
- deduplicated by `Webhook-Id` (first arrival), each arrived once, in `seq` order;
- nothing it does not want reached it.

A re-sent event (killed between the 2xx and the cursor's write) is expected and counted.
The random schedule's seed is printed; PIMS_SYNC_FAULT_SEED=<n> replays one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast
from uuid import UUID

import pytest

from pims_sync.bootstrap import Services, build_services
from pims_sync.domain.outbox import EventType, NewEvent, StoredEvent
from pims_sync.settings import load_settings
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.scheduling.harness import KEY, Serve, spawn_serve, wait_for
from tests.integration.webhooks.receiver import Receiver, ReceiverServer, signature_ok
from tests.reliability.report import FaultReport, FaultRow

FAULT = "kill -9 of the delivering processes"
EXPECTED = "every event delivered; once each after dedupe by Webhook-Id; in seq order"
KINDS = (EventType.CASE_CREATED, EventType.CASE_UPDATED, EventType.SYNC_COMPLETED)
NARROW = ("case.created", "sync.completed")
KILLS = 4
DELIVERY_ENV = {
    "WEBHOOKS_ALLOW_PRIVATE": "true",
    "WEBHOOKS_RETRY_SCALE": "0.01",
    "WEBHOOKS_POLL_SECONDS": "0.1",
    "RUN_STALE_SECONDS": "3",
}
# No PIMS is used: the processes only deliver.
NO_PIMS = cast(BackgroundSimulator, SimpleNamespace(base_url="http://127.0.0.1:9"))


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A receiver that takes a few milliseconds per request, so kills land mid-stream."""
    with ReceiverServer() as state:
        state.on_request = lambda _: time.sleep(0.005)
        yield state


class Fleet:
    """The delivering processes of one database: started, killed, replaced."""

    def __init__(self, url: str, tmp_path: Path) -> None:
        self.url = url
        self.tmp_path = tmp_path
        self.postgres = not url.startswith("sqlite")
        self.running: list[Serve] = []
        self.started = 0

    def start(self) -> None:
        self.started += 1
        label = f"delivery-{self.started}"
        args = ("worker",) if self.postgres else ()
        self.running.append(
            spawn_serve(self.url, NO_PIMS, self.tmp_path, label, *args, **DELIVERY_ENV)
        )

    def kill_all(self) -> None:
        """SIGKILL every delivering process (so the one with the jobs surely), start as many."""
        victims, self.running = self.running, []
        for victim in victims:
            victim.stop(signal.SIGKILL, timeout=30)
        for _ in victims:
            self.start()

    def stop(self) -> None:
        for serve in self.running:
            serve.stop(signal.SIGTERM, timeout=60)


async def produce(services: Services, clinic: UUID, chance: random.Random) -> None:
    """Commit 40 batches of 1–25 events of mixed types, a little apart."""
    for _ in range(40):
        batch = [
            NewEvent(chance.choice(KINDS), subject_id=f"case-{chance.randrange(10_000)}")
            for _ in range(chance.randint(1, 25))
        ]
        await services.events.append(clinic_id=clinic, events=batch, at=_now())
        await asyncio.sleep(chance.uniform(0.02, 0.2))


def _now() -> datetime:
    return datetime.now(UTC)


def kill_repeatedly(fleet: Fleet, chance: random.Random) -> None:
    """KILLS times: wait a random moment, SIGKILL the delivering processes, start others."""
    for _ in range(KILLS):
        time.sleep(chance.uniform(0.3, 1.5))
        fleet.kill_all()


def first_arrivals(received: list[Any], path: str) -> tuple[list[Any], int]:
    """The endpoint's requests deduplicated by Webhook-Id (first arrival), and the re-sends."""
    seen: set[str] = set()
    firsts = []
    mine = [r for r in received if r.path == path]
    for request in mine:
        if request.webhook_id not in seen:
            seen.add(request.webhook_id)
            firsts.append(request)
    return firsts, len(mine) - len(firsts)


def check_endpoint(
    received: list[Any], path: str, wanted: list[StoredEvent], secret: str
) -> tuple[int, int, bool]:
    """(lost, re-sent, in order) for one endpoint; unwanted or forged requests fail here."""
    firsts, resent = first_arrivals(received, path)
    assert all(signature_ok(secret, r) for r in received if r.path == path)
    ids = {str(event.id) for event in wanted}
    assert {r.webhook_id for r in firsts} <= ids, "an event the endpoint does not want"
    lost = len(ids - {r.webhook_id for r in firsts})
    seqs = [r.seq for r in firsts]
    return lost, resent, seqs == sorted(seqs)


async def test_kill_9_while_delivering(
    migrated_database_url: str, tmp_path: Path, receiver: Receiver, fault_report: FaultReport
) -> None:
    fault_report.describe(
        FAULT,
        "The clinic's events are committed in 40 batches while the processes that deliver "
        "them (two `pims-sync worker`s on Postgres, one `pims-sync serve` on SQLite) are "
        f"all SIGKILLed {KILLS} times at random moments and replaced; a receiver on 127.0.0.1 "
        "with two endpoints (every type; two types) records every request. Expected "
        "([webhooks](webhooks.md#delivery)): no event lost; deduplicated by `Webhook-Id`, "
        "each once and in `seq` order; events re-sent after a kill are counted in the "
        "audit column.",
    )
    seed = int(os.environ.get("PIMS_SYNC_FAULT_SEED") or random.randrange(1 << 30))
    print(f"webhook fault seed {seed}")
    chance = random.Random(seed)
    url = migrated_database_url
    services = build_services(
        load_settings(database_url=url, encryption_key=KEY, webhooks_allow_private=True)
    )
    fleet = Fleet(url, tmp_path)
    try:
        clinic = (await services.clinics.add(name="Happy Paws")).id
        admin = services.webhook_admin
        every, every_secret = await admin.add(clinic_id=clinic, url=f"{receiver.url}/every")
        narrow, narrow_secret = await admin.add(
            clinic_id=clinic, url=f"{receiver.url}/narrow", event_types=NARROW
        )
        for _ in range(2 if fleet.postgres else 1):
            fleet.start()
        killer = asyncio.create_task(asyncio.to_thread(kill_repeatedly, fleet, chance))
        await produce(services, clinic, random.Random(seed + 1))
        await killer
        events = await services.events.after(clinic_id=clinic, after_seq=0, limit=10_000)
        wanted_narrow = [e for e in events if e.type.value in NARROW]
        every_ids = {str(e.id) for e in events}
        narrow_ids = {str(e.id) for e in wanted_narrow}

        def all_arrived() -> bool:
            got = receiver.snapshot()
            return every_ids <= {r.webhook_id for r in got if r.path.endswith("/every")} and (
                narrow_ids <= {r.webhook_id for r in got if r.path.endswith("/narrow")}
            )

        with contextlib.suppress(AssertionError):  # counted as lost below
            await asyncio.to_thread(wait_for, all_arrived, 120, "not every event arrived")
        received = receiver.snapshot()
    finally:
        await asyncio.to_thread(fleet.stop)
        await services.aclose()
    lost_all, resent_all, ordered_all = check_endpoint(
        received, "/hooks/every", events, every_secret
    )
    lost_narrow, resent_narrow, ordered_narrow = check_endpoint(
        received, "/hooks/narrow", wanted_narrow, narrow_secret
    )
    ordered = ordered_all and ordered_narrow
    backend = "postgres" if fleet.postgres else "sqlite"
    observed = (
        f"{'every event delivered' if lost_all + lost_narrow == 0 else 'events lost'}; "
        "once each after dedupe by Webhook-Id; "
        f"{'in seq order' if ordered else 'OUT OF ORDER'}"
    )
    row = fault_report.record(
        FaultRow(
            fault=FAULT,
            phase="delivery",
            expected=EXPECTED,
            observed=observed,
            lost=lost_all + lost_narrow,
            duplicated=0,
            spurious_deletes=0,
            audit=(
                f"{len(events)} events ({len(wanted_narrow)} for the two-type endpoint), "
                f"{KILLS} kills, re-sent after a kill: {resent_all} + {resent_narrow}"
            ),
            backend=backend,
        )
    )
    assert row.passed, row
    assert every.id != narrow.id
