"""Benchmark the inbound write path: SqlCaseStore.apply on Postgres and SQLite.

Run: .venv/bin/python -m bench.inbound_writes [--database-url URL] [--cases 630]
Without --database-url it uses the Postgres server of PIMS_SYNC_TEST_POSTGRES_URL (or
postgresql://postgres@127.0.0.1:5432/postgres) in a throwaway database it creates and
drops. SQLite runs in a temporary file. The bar: 630 cases in under 1 s on Postgres.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from pims_sync.adapters.sql.cases import SqlCaseStore
from pims_sync.adapters.sql.clinics import SqlClinicStore
from pims_sync.adapters.sql.engine import create_async_db_engine
from pims_sync.adapters.sql.migrate import display_url, upgrade_database
from pims_sync.ports.store import CasePlan, CaseWrite, PatientRow, StoredCase

DEFAULT_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
T0 = datetime(2026, 11, 20, 15, 0, tzinfo=UTC)
BAR_SECONDS = 1.0
SPECIES = ("Canine", "Feline", "Rabbit", "Avian")


def appointment(n: int, version: int) -> dict[str, Any]:
    """A normalised IDEXX appointment as inbound stores it (~1 kB)."""
    return {
        "id": str(100000 + n),
        "startTime": (T0 + timedelta(minutes=15 * n)).isoformat(),
        "endTime": (T0 + timedelta(minutes=15 * n + 30)).isoformat(),
        "status": "Confirmed" if version == 1 else "Checked In",
        "type": "Wellness Exam",
        "reason": f"Annual wellness exam and vaccines, patient {n}; owner reports mild itching",
        "provider": {"id": "77", "name": "Dr. Amélie Dubois"},
        "room": {"id": "3", "name": "Exam Room 3"},
        "consultationId": str(500000 + n),
        "patient": {
            "id": str(200000 + n),
            "name": f"Rex {n}",
            "species": SPECIES[n % len(SPECIES)],
            "breed": "Labrador Retriever",
            "sex": "Male Neutered",
            "dateOfBirth": "2019-04-12",
            "weight": {"value": 31.4, "unit": "kg"},
        },
        "client": {
            "id": str(300000 + n),
            "name": f"Zoë Müller-{n}",
            "phone": "+1 (415) 555-0134",
            "email": f"zoe.muller{n}@example.com",
            "address": {"street": "1200 Mission St", "city": "San Francisco", "zip": "94103"},
        },
        "notes": "Bring previous records. Prefers morning slots. " * 15,
    }


def metadata(n: int, version: int) -> dict[str, Any]:
    """The metadata inbound writes for one case (~2 kB)."""
    appt = appointment(n, version)
    return {
        "pimsAppointment": appt,
        "entities": {
            "patient": dict(appt["patient"]),
            "owner": {k: appt["client"][k] for k in ("name", "phone", "email")},
            "visitReason": appt["reason"],
            "caseType": "checkup",
        },
        "syncedAt": (T0 + timedelta(hours=version)).isoformat(),
        "syncSource": "IDEXX Neo",
    }


def case_write(n: int, version: int, stored: StoredCase | None) -> CaseWrite:
    """What inbound writes: merged metadata, the stored id kept."""
    kept: Mapping[str, Any] = stored.metadata if stored is not None else {}
    return CaseWrite(
        id=stored.id if stored is not None else uuid.uuid4(),
        external_id=external_id(n),
        source="pims:idexx-neo",
        status="draft" if version == 1 else "ongoing",
        type="checkup",
        scheduled_at=T0 + timedelta(minutes=15 * n),
        metadata={**kept, **metadata(n, version)},
        patient=PatientRow(f"Rex {n}", SPECIES[n % len(SPECIES)], "Labrador Retriever"),
    )


@dataclass
class Counter:
    """Statements sent to the database (SQLAlchemy's before_cursor_execute)."""

    statements: int = 0

    def __call__(self, *_: object) -> None:
        self.statements += 1


async def write_all(
    store: SqlCaseStore, clinic: uuid.UUID, total: int, batch: int, version: int
) -> float:
    """Write `total` cases in batches; the seconds it took."""
    began = time.perf_counter()
    for first in range(0, total, batch):
        numbers = range(first, min(first + batch, total))
        ids = [external_id(n) for n in numbers]
        await store.apply(clinic_id=clinic, external_ids=ids, plan=inbound_plan(numbers, version))
    return time.perf_counter() - began


def inbound_plan(numbers: range, version: int) -> CasePlan:
    """The plan inbound would give for these appointments: merge into what is stored."""

    def plan(stored: Mapping[str, StoredCase]) -> list[CaseWrite]:
        return [case_write(n, version, stored.get(external_id(n))) for n in numbers]

    return plan


def external_id(n: int) -> str:
    """The external id of appointment number n."""
    return f"pims-appt-idexx-neo-{100000 + n}"


async def bench_database(url: str, total: int, batches: list[int]) -> bool:
    """Print the figures for one database; whether Postgres met the bar."""
    await asyncio.to_thread(upgrade_database, url)
    engine: AsyncEngine = create_async_db_engine(url)
    counter = Counter()
    event.listen(engine.sync_engine, "before_cursor_execute", counter)
    size = len(json.dumps(metadata(0, 1), ensure_ascii=False).encode())
    print(f"\n{engine.dialect.name}: {display_url(url)} — {total} cases, metadata {size} B each")
    ok = True
    try:
        store = SqlCaseStore(engine)
        for batch in batches:
            clinic = (await SqlClinicStore(engine).add(name=f"Bench {batch}")).id
            await write_all(store, clinic, 10, 10, 0)  # warm the pool and statement caches
            n_batches = -(-total // batch)
            for version, label in ((1, "first run (all created)"), (2, "second run (all updated)")):
                counter.statements = 0
                seconds = await write_all(store, clinic, total, batch, version)
                per_batch = counter.statements / n_batches
                print(
                    f"  batch {batch:>4}: {label:<25} {seconds:6.3f} s "
                    f"({seconds / total * 1000:.2f} ms/case), {n_batches} batches, "
                    f"{per_batch:.0f} statements per batch"
                )
                ok = ok and (engine.dialect.name != "postgresql" or seconds < BAR_SECONDS)
    finally:
        await engine.dispose()
    return ok


def _conninfo(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


@contextmanager
def throwaway_postgres(server: str) -> Iterator[str]:
    """A fresh database on the server, dropped afterwards."""
    name = f"pims_sync_bench_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(server), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(server).set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(_conninfo(server), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def main(args: argparse.Namespace) -> int:
    """Postgres (given or throwaway), then SQLite in a temporary file."""
    batches = [args.batch, args.cases] if args.batch < args.cases else [args.cases]
    if args.database_url:
        ok = await bench_database(args.database_url, args.cases, batches)
    else:
        server = os.environ.get("PIMS_SYNC_TEST_POSTGRES_URL") or DEFAULT_SERVER
        with throwaway_postgres(server) as url:
            ok = await bench_database(url, args.cases, batches)
    with tempfile.TemporaryDirectory() as tmp:
        await bench_database(f"sqlite:///{Path(tmp) / 'bench.db'}", args.cases, batches)
    print(
        "\nStatements are those SQLAlchemy sends (before_cursor_execute), the same for any"
        " batch size: Postgres advisory locks + SELECT … FOR UPDATE + the cases' upsert +"
        " the patients' upsert with the outbox's append (one statement); SQLite BEGIN"
        " IMMEDIATE + SELECT + 2 upserts + the outbox's sequence upsert and event insert."
        " COMMIT (and psycopg's implicit BEGIN) add one round trip each per batch."
    )
    if not args.database_url or make_url(args.database_url).get_backend_name() != "sqlite":
        verdict = "meets" if ok else "MISSES"
        print(f"\nPostgres {verdict} the bar: {args.cases} cases in < {BAR_SECONDS:.0f} s per run")
    return 0 if ok else 1


def parse_args() -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", help="a migrated-or-empty database to write into")
    parser.add_argument("--cases", type=int, default=630)
    parser.add_argument("--batch", type=int, default=200)
    return parser.parse_args()


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main(parse_args())))
