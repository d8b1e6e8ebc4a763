"""Webhooks while syncs are killed -9: every committed event reaches the receiver, in order.

The delivery half of the outbox's fault test (test_outbox_faults.py proves that the events
are exactly the committed changes): a real `pims-sync serve` (Postgres, Chromium, the
simulator as its own process) runs full syncs and delivers the clinic's events to an
endpoint on a receiver of the test; each round's serve is killed with SIGKILL at a random
moment (mid-sync, and so mid-delivery), the clinic changes between rounds, and a final
clean sync ends. Then, for every event of the outbox:

- it reached the receiver at least once (none lost to a kill);
- deduplicated by `Webhook-Id`, it arrived exactly once, and in `seq` order;
- nothing but the outbox's events arrived, each with a valid signature (plain `hmac`).

Cost: ROUNDS serves and a final one, real Chromium logins; about a minute.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, cast
from uuid import UUID

import pytest
from sqlalchemy import select

from pims_sync.adapters.sql.tables import sync_events
from pims_sync.bootstrap import build_services
from pims_sync.settings import load_settings
from tests.conftest import migrated_database
from tests.integration.scheduling.harness import KEY, Serve, spawn_serve, wait_for
from tests.integration.webhooks.receiver import Receiver, ReceiverServer, signature_ok
from tests.reliability.process_stack import WINDOW, SimProcess, World, start_async
from tests.reliability.report import FaultReport, FaultRow
from tests.reliability.test_outbox_faults import _change_the_clinic, sim, workdir
from tests.reliability.test_webhook_faults import DELIVERY_ENV, first_arrivals

if TYPE_CHECKING:
    from pims_sync.simulator.server import BackgroundSimulator

__all__ = ["sim", "workdir"]
pytestmark = [pytest.mark.postgres, pytest.mark.browser]

ROUNDS = 4
FAULT = "kill -9 of the service during syncs"
EXPECTED = "every event delivered; once each after dedupe by Webhook-Id; in seq order"
SERVE_ENV = {
    **DELIVERY_ENV,
    "PIMS_RATE_LIMIT_PER_SECOND": "50",
    "RUN_STALE_SECONDS": "4",
    "SHUTDOWN_GRACE_SECONDS": "2",
}


@pytest.fixture
def database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A migrated database of its own on the shared test server."""
    with migrated_database("postgres", tmp_path_factory.mktemp("hooks"), "hooks") as url:
        yield url


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with ReceiverServer() as state:
        yield state


def _serve(url: str, sim: SimProcess, workdir: Path, label: str) -> Serve:
    return spawn_serve(url, cast("BackgroundSimulator", sim), workdir, label, **SERVE_ENV)


async def _endpoint(url: str, clinic_id: UUID, hook: str) -> str:
    """Add the endpoint through the service's own admin; its secret."""
    settings = load_settings(database_url=url, encryption_key=KEY, webhooks_allow_private=True)
    services = build_services(settings)
    try:
        _, secret = await services.webhook_admin.add(clinic_id=clinic_id, url=hook)
        return secret
    finally:
        await services.aclose()


def _outbox(world: World) -> list[tuple[str, int]]:
    """(id, seq) of every event of the clinic, in seq order."""
    query = (
        select(sync_events.c.id, sync_events.c.seq)
        .where(sync_events.c.clinic_id == world.clinic_id)
        .order_by(sync_events.c.seq)
    )
    with world.engine.connect() as conn:
        return [(str(row.id), int(row.seq)) for row in conn.execute(query)]


def test_kill_9_during_syncs_delivers_every_event(
    database: str,
    sim: SimProcess,
    workdir: Path,
    receiver: Receiver,
    fault_report: FaultReport,
) -> None:
    fault_report.describe(
        FAULT,
        f"`pims-sync serve` (Postgres) runs full syncs and delivers the clinic's events to a "
        f"webhook endpoint on 127.0.0.1; {ROUNDS} times, it is SIGKILLed at a random moment "
        "of a sync (so of its deliveries too), the clinic changes, a new serve takes over; "
        "a final clean sync ends. Expected ([webhooks](webhooks.md#delivery)): every event "
        "of the outbox reaches the receiver; deduplicated by `Webhook-Id`, once each and in "
        "`seq` order.",
    )
    seed = int(os.environ.get("PIMS_SYNC_FAULT_SEED") or random.randrange(10**6))
    print(f"webhook sync fault seed: {seed} (PIMS_SYNC_FAULT_SEED={seed} repeats it)")
    rng = random.Random(seed)
    sim.calm()
    sim.slow("page-data", 400)  # notes keep coming while the run is killed
    world = World(database, sim)
    secret = asyncio.run(_endpoint(database, world.clinic_id, receiver.url))
    for round_number in range(ROUNDS):
        serve = _serve(database, sim, workdir, f"hooks-{round_number}")
        with world.client(serve.port) as client:
            wait_for(lambda: not world.live_runs(), 30, "the last round's run is still live")
            start_async(client, "full", WINDOW)
            time.sleep(rng.uniform(0.5, 5.0))
            serve.stop(signal.SIGKILL, timeout=30)
        _change_the_clinic(sim, rng, sim.appointments())
        time.sleep(4.5)  # RUN_STALE_SECONDS: the next serve takes the killed run over
    sim.calm()
    final = _serve(database, sim, workdir, "hooks-final")
    try:
        with world.client(final.port) as client:
            wait_for(lambda: not world.live_runs(), 30, "a killed run is still live")
            answer = client.post("/api/sync/full", json=WINDOW)
        assert answer.status_code in (200, 207), answer.text
        outbox = _outbox(world)
        ids = {event_id for event_id, _ in outbox}

        def delivered() -> bool:
            return ids <= {r.webhook_id for r in receiver.snapshot()}

        with contextlib.suppress(AssertionError):  # counted as lost below
            wait_for(delivered, 60, "")
    finally:
        final.stop(signal.SIGTERM, timeout=60)
        world.close()
    received = receiver.snapshot()
    firsts, resent = first_arrivals(received, "/hooks")
    seq_of = dict(outbox)
    lost = len(ids - {r.webhook_id for r in firsts})
    assert {r.webhook_id for r in firsts} <= ids, "a request that is no event of the outbox"
    assert all(signature_ok(secret, r) for r in received)
    assert all(seq_of[r.webhook_id] == r.seq for r in firsts)
    ordered = [r.seq for r in firsts] == sorted(r.seq for r in firsts)
    observed = (
        f"{'every event delivered' if lost == 0 else 'events lost'}; "
        f"once each after dedupe by Webhook-Id; {'in seq order' if ordered else 'OUT OF ORDER'}"
    )
    row = fault_report.record(
        FaultRow(
            fault=FAULT,
            phase="full",
            expected=EXPECTED,
            observed=observed,
            lost=lost,
            duplicated=0,
            spurious_deletes=0,
            audit=f"{len(outbox)} events, {ROUNDS} kills, re-sent after a kill: {resent}",
            backend="postgres",
        )
    )
    print(row.audit)
    assert row.passed, row
