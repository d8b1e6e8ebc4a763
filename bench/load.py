"""Benchmark many clinics whose schedules fire at one instant, on Postgres with worker processes.

Run: .venv/bin/python -m bench.load [--clinics 50] [--workers 2] [--concurrency 4]
                                    [--days-ahead 1] [--latency-ms 0] [--database-url URL]

The same stack as tests/reliability/test_load.py: one simulator (a thread of this
process) with --clinics clinics, `pims-sync serve --no-worker` (the API and the
scheduler) and --workers `pims-sync worker` processes with WORKER_CONCURRENCY
--concurrency. Every clinic gets the same one-off inbound schedule (the first clinic a
cases schedule at the same instant too); the script waits until every fire time is closed
and prints: clinics, runs, wall time from the fire time to the last run's end, runs/min,
run time and start delay, PIMS requests and logins, and each worker's peak memory with its
Chromium (RSS and PSS of the process tree, sampled every second). Without --database-url
it uses a throwaway database on PIMS_SYNC_TEST_POSTGRES_URL's server (or
postgresql://postgres@127.0.0.1:5432/postgres). Exit 1 if a run did not complete.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

from tests.reliability.load_stack import LoadPlan, LoadResult, LoadStack

from bench.inbound_writes import DEFAULT_SERVER, throwaway_postgres
from pims_sync.adapters.sql.migrate import upgrade_database


def run(url: str, plan: LoadPlan, settle_seconds: float) -> LoadResult:
    """One load run against a database URL; its result."""
    upgrade_database(url)
    with tempfile.TemporaryDirectory(prefix="pims-sync-load-") as workdir:
        stack = LoadStack(url, Path(workdir), plan)
        with stack.running():
            stack.fire_together()
            stack.wait_settled(settle_seconds)
            stack.count_browsers()
            return stack.result(stack.stop())


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clinics", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--days-ahead", type=int, default=1)
    parser.add_argument("--latency-ms", type=int, default=0)
    parser.add_argument("--settle-seconds", type=float, default=900.0)
    parser.add_argument("--database-url", help="default: a throwaway Postgres database")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    plan = LoadPlan(
        clinics=args.clinics,
        workers=args.workers,
        concurrency=args.concurrency,
        days_ahead=args.days_ahead,
        latency_ms=args.latency_ms,
    )
    started = time.monotonic()
    if args.database_url:
        result = run(args.database_url, plan, args.settle_seconds)
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            result = run(url, plan, args.settle_seconds)
    for line in result.summary():
        print(line)
    print(f"load: whole benchmark (set-up, runs, shutdown) {time.monotonic() - started:.1f} s")
    failed = [r for r in result.runs if r.status != "completed"]
    print("all runs completed" if not failed else f"{len(failed)} RUNS DID NOT COMPLETE")
    raise SystemExit(1 if failed or len(result.runs) < plan.fires() else 0)


if __name__ == "__main__":
    main()
