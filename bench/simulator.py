"""How many requests per second the simulator sustains (calendar week, page-data).

Run: .venv/bin/python -m bench.simulator [--seconds 5] [--concurrency 20] [--latency-ms 0]
The simulator runs in its own process (uvicorn, one worker) so the load generator does not
share its interpreter.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import os
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import psutil

NOW = "2026-01-22 18:00:00"
WEEK = {"start": "2026-01-22 00:00:00", "end": "2026-01-28 23:59:59"}
LOGIN = {"company_id": "1001", "username": "vet@example.com", "password": "simulator-password"}
SERVER = (
    "import sys\n"
    "from pims_sync.simulator.config import SimulatorConfig\n"
    "from pims_sync.simulator.server import serve\n"
    "serve(SimulatorConfig(port=int(sys.argv[1]), latency_ms=int(sys.argv[2])))\n"
)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def simulator(latency_ms: int) -> Iterator[tuple[str, psutil.Process]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", SERVER, str(port), str(latency_ms)], env=os.environ.copy()
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                httpx.get(f"{base}/login", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield base, psutil.Process(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)


async def raw_get(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, path: str, cookie: str
) -> int:
    """One keep-alive GET over a bare socket: the load generator must cost less than the server."""
    writer.write(
        f"GET {path} HTTP/1.1\r\nHost: sim\r\nAccept: application/json\r\n"
        f"X-Requested-With: XMLHttpRequest\r\nCookie: {cookie}\r\n\r\n".encode()
    )
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head[9:12])
    length = 0
    for line in head.split(b"\r\n"):
        if line.lower().startswith(b"content-length:"):
            length = int(line.split(b":", 1)[1])
    await reader.readexactly(length)
    return status


async def hammer(
    base: str, cookie: str, paths: Callable[[], str], *, seconds: float, limit: int, workers: int
) -> tuple[int, int, float, list[float]]:
    host, port = base.removeprefix("http://").split(":")
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, int(port))
        try:
            while time.perf_counter() < deadline and len(latencies) < limit:
                started = time.perf_counter()
                try:
                    status = await raw_get(reader, writer, paths(), cookie)
                except (OSError, asyncio.IncompleteReadError):
                    # Count it and reconnect: one dropped connection must not end the run.
                    status = 0
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, int(port))
                latencies.append((time.perf_counter() - started) * 1000)
                errors += status != 200
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(workers)))
    return len(latencies), errors, time.perf_counter() - started, latencies


def report(name: str, count: int, errors: int, elapsed: float, latencies: list[float]) -> None:
    ordered = sorted(latencies)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, int(p * len(ordered)))]

    print(
        f"{name:<24} {count:>6} requests  {count / elapsed:>8.1f} req/s  "
        f"p50 {pct(0.50):6.1f} ms  p95 {pct(0.95):6.1f} ms  p99 {pct(0.99):6.1f} ms  "
        f"mean {statistics.fmean(ordered):6.1f} ms  errors {errors}"
    )


def cpu_seconds(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


async def run(base: str, server: psutil.Process, seconds: float, workers: int) -> None:
    limits = httpx.Limits(max_connections=workers, max_keepalive_connections=workers)
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=30) as client:
        (await client.post("/__sim__/clock", json={"now": NOW})).raise_for_status()
        assert (await client.post("/login", data=LOGIN)).status_code == 302
        past = {"start": "2026-01-08 00:00:00", "end": "2026-01-22 23:59:59"}
        events = (await client.get("/appointments/getCalendarEventData", params=past)).json()
        consultations = [e["consultation_id"] for e in events if e["consultation_id"]]
        week = (await client.get("/appointments/getCalendarEventData", params=WEEK)).json()
        query = httpx.QueryParams(WEEK)
        print(f"calendar week = {len(week)} events; {len(consultations)} consultations to cycle")
        cycle = itertools.cycle(consultations)
        cookie = "; ".join(f"{name}={value}" for name, value in client.cookies.items())
        runs: list[tuple[str, Callable[[], str], int]] = [
            ("calendar (1 week)", lambda: f"/appointments/getCalendarEventData?{query}", 20_000),
            ("page-data", lambda: f"/consultations/{next(cycle)}/page-data", 50_000),
        ]
        for name, paths, limit in runs:
            await hammer(base, cookie, paths, seconds=0.5, limit=200, workers=workers)  # warm-up
            cpu_before = cpu_seconds(server)
            result = await hammer(
                base, cookie, paths, seconds=seconds, limit=limit, workers=workers
            )
            report(name, *result)
            busy = (cpu_seconds(server) - cpu_before) / result[2]
            # Below ~90 % the simulator had spare capacity: the load generator was the limit.
            print(f"{'':<2}simulator process CPU {busy:.0%} of one core")
        stats = (await client.get("/__sim__/stats")).json()["endpoints"]
        for name in ("calendar", "page-data"):
            entry = stats[name]
            print(
                f"server-side {name:<12} mean {entry['meanMs']:.2f} ms  max {entry['maxMs']:.1f} ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--latency-ms", type=int, default=0)
    args = parser.parse_args()
    print(
        f"IDEXX simulator benchmark: {os.cpu_count()} CPUs, concurrency {args.concurrency}, "
        f"{args.seconds:.0f} s per endpoint, added latency {args.latency_ms} ms"
    )
    with simulator(args.latency_ms) as (base, server):
        asyncio.run(run(base, server, args.seconds, args.concurrency))


if __name__ == "__main__":
    main()
