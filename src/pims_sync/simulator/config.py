"""Start-up configuration and switchable runtime settings of the simulator."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

LoginVariant = Literal["standard", "no-company-field", "2fa", "changed"]
CalendarEnvelope = Literal["array", "events"]
SessionExpiredResponse = Literal["redirect", "401", "login-page"]

LOGIN_VARIANTS: tuple[str, ...] = ("standard", "no-company-field", "2fa", "changed")
CALENDAR_ENVELOPES: tuple[str, ...] = ("array", "events")
SESSION_EXPIRED_RESPONSES: tuple[str, ...] = ("redirect", "401", "login-page")
# Enough for the load test (50) and then some; ids stay unique (docs/simulator.md).
MAX_CLINICS = 100


@dataclass(frozen=True)
class SimulatorConfig:
    """What `pims-sync simulator` is started with; every field has a printed default."""

    host: str = "127.0.0.1"
    port: int = 8780
    seed: int = 42
    clinics: int = 1
    username: str = "vet@example.com"
    password: str = "simulator-password"  # noqa: S105 - a printed demo default
    company_id: int = 1001
    latency_ms: int = 0
    timezone: str = "America/Los_Angeles"
    idle_minutes: int = 20
    absolute_hours: int = 8

    def __post_init__(self) -> None:
        if not 1 <= self.clinics <= MAX_CLINICS:
            raise ValueError(f"clinics must be between 1 and {MAX_CLINICS}, not {self.clinics}")

    def company_ids(self) -> list[str]:
        """One company id per clinic: the first one, then the next integers."""
        return [str(self.company_id + index) for index in range(self.clinics)]


@dataclass
class RuntimeSettings:
    """Behaviours the control API can switch while the simulator runs."""

    login_variant: LoginVariant = "standard"
    calendar_envelope: CalendarEnvelope = "array"
    cancelled_in_feed: bool = True
    session_expired_response: SessionExpiredResponse = "redirect"
    omit_consultation_notes: bool = False
    latency_ms: int = 0
    idle_minutes: int = 20
    absolute_hours: int = 8

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> RuntimeSettings:
        """The settings a fresh simulator starts with."""
        return cls(
            latency_ms=config.latency_ms,
            idle_minutes=config.idle_minutes,
            absolute_hours=config.absolute_hours,
        )

    def as_json(self) -> dict[str, Any]:
        """The settings as the control API shows them (camelCase keys)."""
        return {_camel(item.name): getattr(self, item.name) for item in fields(self)}

    def as_tuple(self) -> tuple[Any, ...]:
        """The settings as a hashable value (part of cache keys)."""
        return tuple(getattr(self, item.name) for item in fields(self))

    def update(self, changes: dict[str, Any]) -> None:
        """Apply camelCase changes from the control API, refusing unknown keys or values."""
        by_camel = {_camel(item.name): item.name for item in fields(self)}
        for key, value in changes.items():
            name = by_camel.get(key)
            if name is None:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(by_camel)}")
            _check(name, value)
        for key, value in changes.items():
            setattr(self, by_camel[key], value)


_CHOICES: dict[str, tuple[str, ...]] = {
    "login_variant": LOGIN_VARIANTS,
    "calendar_envelope": CALENDAR_ENVELOPES,
    "session_expired_response": SESSION_EXPIRED_RESPONSES,
}
_COUNTS = ("latency_ms", "idle_minutes", "absolute_hours")
_FLAGS = ("cancelled_in_feed", "omit_consultation_notes")


def _check(name: str, value: Any) -> None:
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ValueError(f"{_camel(name)} must be one of {list(_CHOICES[name])}")
    if name in _FLAGS and not isinstance(value, bool):
        raise ValueError(f"{_camel(name)} must be true or false")
    if name in _COUNTS and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
        raise ValueError(f"{_camel(name)} must be a non-negative integer")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


DEFAULTS = SimulatorConfig()
