"""Benchmark webhook delivery: 1 000 events to one receiver, in order, timed from their commit.

Run: .venv/bin/python -m bench.webhooks [--events 1000] [--batch 100] [--database-url URL]

For Postgres (a throwaway database on PIMS_SYNC_TEST_POSTGRES_URL's server, or
postgresql://postgres@127.0.0.1:5432/postgres) and then SQLite (a temporary file): a
clinic with one endpoint on a receiver on 127.0.0.1, a worker of this process with the
production settings (the delivery pump every WEBHOOKS_POLL_SECONDS = 1 s; procrastinate
on Postgres, the in-process queue on SQLite), and the events committed in batches of
`--batch` as a sync's phases commit them. It prints, per database, how long after its
commit each event reached the receiver (median, 95th percentile, worst), the whole
stream's time and rate, and whether the receiver got every seq once, in order. Exit 1 if
an event came out of order or later than 10 s after its commit.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from bench.inbound_writes import DEFAULT_SERVER, throwaway_postgres
from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.bootstrap import build_services
from pims_sync.cli.runtime import Runtime
from pims_sync.domain.outbox import EventType, NewEvent
from pims_sync.settings import load_settings

BAR_SECONDS = 10.0
KEY = "bench-encryption-key-0123456789abcdefgh"


@dataclass
class Arrivals:
    """What the receiver got: (seq, monotonic time of arrival) in arrival order."""

    seen: list[tuple[int, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    done: threading.Event = field(default_factory=threading.Event)
    expected: int = 0

    def add(self, seq: int) -> None:
        with self.lock:
            self.seen.append((seq, time.monotonic()))
            if len({s for s, _ in self.seen}) >= self.expected:
                self.done.set()


@contextmanager
def receiver(arrivals: Arrivals) -> Iterator[str]:
    """A threaded HTTP receiver on 127.0.0.1 that answers 204 and records each seq."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            arrivals.add(int(json.loads(body)["data"]["seq"]))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet."""

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hooks"
    finally:
        server.shutdown()
        server.server_close()


async def bench_database(url: str, events: int, batch: int) -> bool:
    """One database: commit the events, wait for the receiver, print the figures."""
    upgrade_database(url)
    settings = load_settings(
        database_url=url, encryption_key=KEY, webhooks_allow_private=True, run_stale_seconds=60
    )
    services = build_services(settings)
    arrivals = Arrivals(expected=events)
    try:
        clinic = await services.clinics.add(name="Bench Vet")
        with receiver(arrivals) as hook:
            await services.webhook_admin.add(clinic_id=clinic.id, url=hook)
            runtime = Runtime(services, scheduler=False, worker=True)
            await runtime.start()
            try:
                committed = await commit(services, clinic.id, events, batch)
                got = await asyncio.to_thread(arrivals.done.wait, 60.0)
            finally:
                await runtime.stop()
    finally:
        await services.aclose()
    return report(url, arrivals, committed, events, finished=got)


async def commit(services: Any, clinic_id: Any, events: int, batch: int) -> dict[int, float]:
    """Commit the events in batches; each seq's commit time (monotonic)."""
    committed: dict[int, float] = {}
    for start in range(0, events, batch):
        size = min(batch, events - start)
        kinds = [
            NewEvent(EventType.CASE_UPDATED, f"case-{start + n}", {"changedFields": ["status"]})
            for n in range(size)
        ]
        stored = await services.events.append(
            clinic_id=clinic_id, events=kinds, at=datetime.now(UTC)
        )
        now = time.monotonic()
        committed.update({event.seq: now for event in stored})
        await asyncio.sleep(0)  # let the worker run between commits, as between sync batches
    return committed


def report(
    url: str, arrivals: Arrivals, committed: dict[int, float], events: int, *, finished: bool
) -> bool:
    """Print the figures; whether every event came once, in order, within the bar."""
    kind = "Postgres" if url.startswith("postgres") else "SQLite"
    seqs = [seq for seq, _ in arrivals.seen]
    first: dict[int, float] = {}
    for seq, at in arrivals.seen:
        first.setdefault(seq, at)
    in_order = seqs == sorted(seqs) and len(seqs) == len(set(seqs))
    lags = sorted(first[seq] - committed[seq] for seq in first if seq in committed)
    span = max(first.values()) - min(committed.values()) if first else float("nan")
    worst = lags[-1] if lags else float("nan")
    print(f"\n{kind}: {events} events committed in batches, one endpoint on 127.0.0.1")
    print(f"  received        {len(first)} of {events} ({len(seqs) - len(first)} again)")
    print(f"  in seq order    {'yes' if in_order else 'NO'}")
    if lags:
        p95 = lags[int(0.95 * (len(lags) - 1))]
        median = statistics.median(lags)
        print(f"  after commit    median {median:.3f} s, p95 {p95:.3f} s, worst {worst:.3f} s")
        rate = len(first) / span
        print(f"  whole stream    {span:.2f} s, first commit to last arrival ({rate:.0f} events/s)")
    ok = finished and in_order and len(first) == events and worst <= BAR_SECONDS
    print(
        f"  every event within {BAR_SECONDS:.0f} s of its commit, in order: {'yes' if ok else 'NO'}"
    )
    return ok


async def main(args: argparse.Namespace) -> int:
    """Postgres (given or throwaway), then SQLite in a temporary file."""
    logging.basicConfig(level=logging.WARNING)
    if args.database_url:
        ok = await bench_database(args.database_url, args.events, args.batch)
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            ok = await bench_database(url, args.events, args.batch)
    with tempfile.TemporaryDirectory() as tmp:
        ok = (
            await bench_database(f"sqlite:///{Path(tmp) / 'bench.db'}", args.events, args.batch)
            and ok
        )
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--database-url", default=None)
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
