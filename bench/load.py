"""Benchmark many clinics whose schedules fire at one instant, on Postgres with worker processes.

Run: .venv/bin/python -m bench.load [--clinics 50] [--workers 2] [--concurrency 4] [--waves 2]
                                    [--schedule inbound|full] [--days-ahead 1] [--lookback-days 1]
                                    [--latency-ms 0] [--database-url URL]

The same stack as tests/reliability/test_load.py: one simulator (a thread of this
process) with --clinics clinics, `pims-sync serve --no-worker` (the API and the
scheduler) and --workers `pims-sync worker` processes with WORKER_CONCURRENCY
--concurrency. Every clinic gets the same one-off --schedule schedule (the first clinic a
cases schedule at the same instant too); the script waits until every fire time is closed
and prints: clinics, runs, wall time from the fire time to the last run's end, runs/min,
run time and start delay, PIMS requests and logins, and each worker's peak memory with its
Chromium (RSS and PSS of the process tree, sampled every second). Then the next wave: the
same again on the same processes; from the second wave on, runs reuse the cached PIMS
sessions (no browser login) and find nothing new to write. Without --database-url
it uses a throwaway database on PIMS_SYNC_TEST_POSTGRES_URL's server (or
postgresql://postgres@127.0.0.1:5432/postgres). Exit 1 if a run did not complete
or a clinic's cases differ from the simulator's appointments.
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


def run(url: str, plan: LoadPlan, waves: int, settle_seconds: float) -> list[LoadResult]:
    """Load waves against a database URL, each printed as it ends; their results."""
    upgrade_database(url)
    results: list[LoadResult] = []
    with tempfile.TemporaryDirectory(prefix="pims-sync-load-") as workdir:
        stack = LoadStack(url, Path(workdir), plan)
        with stack.running():
            for wave in range(1, waves + 1):
                stack.fire_together()
                stack.wait_settled(settle_seconds)
                stack.count_browsers()
                last = wave == waves
                results.append(stack.result(stack.stop() if last else {}))
                print(f"wave {wave}" + (" (cold: every clinic logs in)" if wave == 1 else ""))
                for line in results[-1].summary():
                    print(line)
    return results


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--clinics", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--concurrency", type=int, default=4)
    parser.add_argument("--waves", type=int, default=2)
    parser.add_argument("--schedule", choices=("inbound", "full"), default="inbound")
    parser.add_argument("--days-ahead", type=int, default=1)
    parser.add_argument("--lookback-days", type=int, default=1)
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
        schedule=args.schedule,
        days_ahead=args.days_ahead,
        lookback_days=args.lookback_days,
        latency_ms=args.latency_ms,
    )
    started = time.monotonic()
    if args.database_url:
        results = run(args.database_url, plan, args.waves, args.settle_seconds)
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            results = run(url, plan, args.waves, args.settle_seconds)
    print(f"load: whole benchmark (set-up, runs, shutdown) {time.monotonic() - started:.1f} s")
    runs = [each for result in results for each in result.runs]
    failed = [r for r in runs if r.status != "completed"]
    print("all runs completed" if not failed else f"{len(failed)} RUNS DID NOT COMPLETE")
    wrong = [r for r in results if r.matching_clinics() < plan.clinics]
    if wrong:
        print(f"CASES DIFFER FROM THE SIMULATOR in {len(wrong)} wave(s)")
    raise SystemExit(1 if failed or wrong or len(runs) < plan.fires() * args.waves else 0)


if __name__ == "__main__":
    main()
