"""Switchable failures: error statuses, slow answers, HTML for JSON, sessions, refusals,
and answers lost after the write was applied (`afterApply: "drop"`)."""

from __future__ import annotations

from dataclasses import dataclass
from random import Random
from typing import Any

from pims_sync.simulator.dataset import seeded

FAULT_ENDPOINTS = ("login", "calendar", "page-data", "search", "appointment", "*")
# What a fault may do once the request has been handled (the write applied): drop the
# connection without an answer, after its latencyMs (the double-booking case).
AFTER_APPLY = ("drop",)
# A fault named after a family covers every endpoint of that family (stats names on the right).
FAMILIES: dict[str, frozenset[str]] = {
    "login": frozenset({"login", "login-page", "auth-hop"}),
    "calendar": frozenset({"calendar"}),
    "page-data": frozenset({"page-data"}),
    "search": frozenset({"search"}),
    "appointment": frozenset({"appointment", "view", "create", "delete"}),
    "create": frozenset({"create"}),
    "delete": frozenset({"delete"}),
    "clients": frozenset({"clients-create"}),
    "patients": frozenset({"patients-create"}),
    "pages": frozenset({"home"}),
}


@dataclass
class Fault:
    """One injected failure and how often / how many times it strikes."""

    endpoint: str
    status: int | None
    rate: float
    latency_ms: int
    retry_after: int | None
    html: bool
    count: int | None  # None = forever; otherwise strikes left
    rng: Random
    hits: int = 0
    expire_session: bool = False
    after: int = 0  # covered requests still to let through before the fault is armed
    refusal: bool = False  # a JSON `{"success": false}` answer (status 200 unless given)
    after_apply: str | None = None  # "drop": handle the request, then send no answer

    @property
    def answers(self) -> bool:
        """Whether the fault replaces the answer (rather than only delaying or expiring)."""
        return self.status is not None or self.html or self.refusal

    def covers(self, endpoint: str) -> bool:
        """Whether a request to this endpoint (stats name) is subject to the fault."""
        return self.endpoint == "*" or endpoint in FAMILIES.get(self.endpoint, ())

    def as_json(self) -> dict[str, Any]:
        """How the control API shows the fault."""
        return {
            "endpoint": self.endpoint,
            "status": self.status,
            "rate": self.rate,
            "latencyMs": self.latency_ms,
            "retryAfter": self.retry_after,
            "html": self.html,
            "count": self.count,
            "hits": self.hits,
            "expireSession": self.expire_session,
            "after": self.after,
            "refusal": self.refusal,
            "afterApply": self.after_apply,
        }


@dataclass(frozen=True)
class Strike:
    """What the struck request must do: wait, then maybe answer with an error."""

    latency_ms: int
    status: int | None
    retry_after: int | None
    html: bool
    expire_session: bool = False
    refusal: bool = False
    # The request is handled (a write applied), then `latency_ms` waited and the connection
    # closed without an answer.
    drop_after_apply: bool = False

    @property
    def answers(self) -> bool:
        """Whether the request gets the fault's answer instead of its own."""
        return self.status is not None or self.html or self.refusal


class FaultBook:
    """The active faults; each has its own RNG seeded from the simulator seed (repeatable)."""

    def __init__(self, seed: int) -> None:
        self._seed = seed
        self._added = 0
        self.faults: list[Fault] = []

    def add(self, spec: dict[str, Any]) -> Fault:
        """Validate a control-API fault description and activate it."""
        endpoint = spec.get("endpoint", "*")
        if endpoint not in FAMILIES and endpoint != "*":
            raise ValueError(f"endpoint must be one of {[*FAULT_ENDPOINTS, *FAMILIES]}")
        status = _optional_int(spec, "status", 100, 599)
        html = bool(spec.get("html", False))
        latency = _optional_int(spec, "latencyMs", 0, 600_000) or 0
        expire = spec.get("expireSession", False)
        refusal = spec.get("refusal", False)
        if not isinstance(expire, bool) or not isinstance(refusal, bool):
            raise ValueError("expireSession and refusal must be true or false")
        after_apply = spec.get("afterApply")
        if after_apply is not None and after_apply not in AFTER_APPLY:
            raise ValueError(f"afterApply must be one of {list(AFTER_APPLY)}")
        if after_apply is not None and (status is not None or html or refusal):
            raise ValueError("afterApply answers nothing: it takes no status, html or refusal")
        if (
            status is None
            and not html
            and latency == 0
            and not expire
            and not refusal
            and after_apply is None
        ):
            raise ValueError(
                "a fault needs a status, html: true, refusal: true, latencyMs,"
                " expireSession: true or afterApply"
            )
        rate = spec.get("rate", 1.0)
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ValueError("rate must be a number between 0 and 1")
        self._added += 1
        fault = Fault(
            endpoint=endpoint,
            status=status,
            rate=float(rate),
            latency_ms=latency,
            retry_after=_optional_int(spec, "retryAfter", 0, 86_400),
            html=html,
            count=_optional_int(spec, "count", 1, 10**9),
            rng=seeded(self._seed, "fault", self._added),
            expire_session=expire,
            after=_optional_int(spec, "after", 0, 10**9) or 0,
            refusal=refusal,
            after_apply=after_apply,
        )
        self.faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault."""
        self.faults.clear()

    def strike(self, endpoint: str) -> Strike | None:
        """Roll the dice for one request: the first fault that strikes decides (after delays).

        A session-expiring fault ends every session just before the request is answered,
        so the request itself (and any other in flight) meets the expired-session answer.
        An afterApply fault decides alone: its latency comes after the request is handled.
        """
        delay, expire = 0, False
        for fault in self.faults:
            if not fault.covers(endpoint) or fault.count == 0:
                continue
            if fault.after > 0:
                fault.after -= 1
                continue
            if fault.rate < 1.0 and fault.rng.random() >= fault.rate:
                continue
            fault.hits += 1
            if fault.count is not None:
                fault.count -= 1
            if fault.after_apply == "drop":
                return Strike(fault.latency_ms, None, None, False, drop_after_apply=True)
            delay += fault.latency_ms
            expire = expire or fault.expire_session
            if fault.answers:
                return Strike(
                    delay, fault.status, fault.retry_after, fault.html, expire, fault.refusal
                )
        return Strike(delay, None, None, False, expire) if delay or expire else None

    def as_json(self) -> list[dict[str, Any]]:
        """Active faults (exhausted ones included, with count 0)."""
        return [fault.as_json() for fault in self.faults]


def _optional_int(spec: dict[str, Any], key: str, low: int, high: int) -> int | None:
    value = spec.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ValueError(f"{key} must be an integer between {low} and {high}")
    return value
