"""The job queue port: sync runs (one per clinic at a time) and webhook deliveries."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Protocol
from uuid import UUID

from pims_sync.domain.runs import SyncType, Trigger

# Queue order: higher first (procrastinate's `priority`; the in-process queue the same).
PRIORITY_SCHEDULED = 0
PRIORITY_ASKED = 10  # a run a person asked for (API, console, CLI): ahead of every schedule


@dataclass(frozen=True, slots=True)
class SyncJob:
    """A sync run to execute: which clinic, what type, its options, and the fire it serves."""

    clinic_id: UUID
    sync_type: SyncType
    triggered_by: Trigger = Trigger.SCHEDULER
    options: Mapping[str, Any] = field(default_factory=dict)
    fire_id: UUID | None = None

    kind: ClassVar[str] = "sync"

    @property
    def priority(self) -> int:
        """Runs asked for by a person go ahead of scheduled ones."""
        return PRIORITY_SCHEDULED if self.triggered_by is Trigger.SCHEDULER else PRIORITY_ASKED

    @property
    def lock(self) -> str:
        """One job of a clinic runs at a time."""
        return f"clinic:{self.clinic_id}"

    @property
    def refusal(self) -> str:
        """Why a second one is refused while this one waits."""
        return f"a {self.sync_type.value} run of this clinic is already queued"

    @property
    def queueing_lock(self) -> str:
        """At most one job of a clinic and type waits in the queue."""
        return f"clinic:{self.clinic_id}:{self.sync_type.value}"

    def payload(self) -> dict[str, Any]:
        """JSON-safe arguments (a queue in the database stores them)."""
        return {
            "clinic_id": str(self.clinic_id),
            "sync_type": self.sync_type.value,
            "triggered_by": self.triggered_by.value,
            "options": dict(self.options),
            "fire_id": None if self.fire_id is None else str(self.fire_id),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> SyncJob:
        """The job back from its payload."""
        fire = payload.get("fire_id")
        return cls(
            clinic_id=UUID(str(payload["clinic_id"])),
            sync_type=SyncType(payload["sync_type"]),
            triggered_by=Trigger(payload.get("triggered_by", Trigger.SCHEDULER.value)),
            options=dict(payload.get("options") or {}),
            fire_id=None if fire is None else UUID(str(fire)),
        )


@dataclass(frozen=True, slots=True)
class DeliveryJob:
    """Deliver an endpoint's due events, in `seq` order (never inside a sync run)."""

    endpoint_id: UUID
    clinic_id: UUID
    kind: ClassVar[str] = "delivery"
    priority: ClassVar[int] = PRIORITY_SCHEDULED  # in a queue (and worker) of its own anyway

    @property
    def lock(self) -> str:
        """One delivery job of an endpoint runs at a time: its events go out in order."""
        return f"webhook:{self.endpoint_id}"

    @property
    def queueing_lock(self) -> str:
        """At most one waits: a waiting job delivers whatever is due when it runs."""
        return f"webhook:{self.endpoint_id}"

    @property
    def refusal(self) -> str:
        """Why a second one is refused while this one waits."""
        return "a delivery job of this endpoint is already queued"

    def payload(self) -> dict[str, Any]:
        """JSON-safe arguments."""
        return {"endpoint_id": str(self.endpoint_id), "clinic_id": str(self.clinic_id)}

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> DeliveryJob:
        """The job back from its payload."""
        return cls(
            endpoint_id=UUID(str(payload["endpoint_id"])),
            clinic_id=UUID(str(payload["clinic_id"])),
        )


# Every kind of job the queue carries.
Job = SyncJob | DeliveryJob

# What a queue calls to execute a job (the runtime's dispatcher: runs and deliveries).
JobHandler = Callable[[Job], Awaitable[None]]


class JobQueue(Protocol):
    """Where jobs wait; one job per clinic runs at a time, wherever the workers are."""

    async def enqueue(self, job: Job) -> None:
        """Queue the job; JobRefusedError if one with its queueing lock is already waiting."""
        ...

    async def recover_stalled(self) -> list[Job]:
        """Fail the jobs of workers that died (their locks would block the clinic); return them."""
        ...


class WorkerQueue(JobQueue, Protocol):
    """A JobQueue with its lifecycle, as a process runs it: open, run a worker, close."""

    async def open(self) -> None:
        """Get ready to take jobs (connections); before any other call."""
        ...

    async def run_worker(self, *, concurrency: int, name: str) -> None:
        """Execute this process's share of the jobs until the queue is closed."""
        ...

    async def close(self) -> None:
        """Take no more jobs; give running ones the queue's grace, then stop them; release."""
        ...


@dataclass(frozen=True, slots=True)
class RunResult:
    """How a run ended, as the fire table records it."""

    success: bool
    error: str | None = None


@dataclass(frozen=True, slots=True)
class LaunchedRun:
    """A run that has started: its audit id and an awaitable of its result."""

    run_id: UUID
    result: Awaitable[RunResult]


class RunLauncher(Protocol):
    """Starts a sync run for a job (the pipeline's SyncService behind it)."""

    async def launch(self, job: SyncJob) -> LaunchedRun:
        """Open the audit row and start the run; RunInProgressError if the clinic is busy."""
        ...
