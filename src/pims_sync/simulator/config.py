"""Start-up configuration and switchable runtime settings of the simulator."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal, get_args

LoginVariant = Literal["standard", "no-company-field", "2fa", "changed"]
CalendarEnvelope = Literal["array", "events"]
SessionExpiredResponse = Literal["redirect", "401", "login-page"]
Profile = Literal["standard", "wild"]

LOGIN_VARIANTS: tuple[str, ...] = ("standard", "no-company-field", "2fa", "changed")
CALENDAR_ENVELOPES: tuple[str, ...] = ("array", "events")
SESSION_EXPIRED_RESPONSES: tuple[str, ...] = ("redirect", "401", "login-page")
MAX_REDIRECT_HOPS = 5
MAX_LOGIN_FORM_DELAY_MS = 60_000
# The "in the wild" traits (docs/simulator.md, Settings and Profiles): each is off in the
# standard profile, and the wild profile turns every one on at once.
WILD_TRAITS: dict[str, Any] = {
    "login_form_delay_ms": 1500,
    "login_csrf": True,
    "write_csrf": True,
    "login_redirect_hops": 3,
    "landing_search_box": True,
    "json_as_html": True,
    "string_ids": True,
    "unequal_ids": True,
    "flags_as_numbers": True,
    "lower_case_statuses": True,
    "mixed_case_names": True,
    "multi_day_stays": True,
    "discharge_only_notes": True,
    "list_notes": True,
    "refuse_unfinished": True,
}
PROFILES: tuple[str, ...] = get_args(Profile)
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
    profile: Profile = "standard"

    def __post_init__(self) -> None:
        if not 1 <= self.clinics <= MAX_CLINICS:
            raise ValueError(f"clinics must be between 1 and {MAX_CLINICS}, not {self.clinics}")
        if self.profile not in PROFILES:
            raise ValueError(f"profile must be one of {list(PROFILES)}, not {self.profile!r}")

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
    profile: Profile = "standard"  # the profile last applied (its traits may be changed since)
    # Traits of the real site (all off by default; WILD_TRAITS turns them on).
    login_form_delay_ms: int = 0
    login_csrf: bool = False
    write_csrf: bool = False  # writes need X-CSRF-Token = the pages' csrf-token meta tag
    login_redirect_hops: int = 0
    landing_search_box: bool = False
    json_as_html: bool = False
    string_ids: bool = False
    unequal_ids: bool = False
    flags_as_numbers: bool = False
    lower_case_statuses: bool = False
    mixed_case_names: bool = False
    multi_day_stays: bool = False
    discharge_only_notes: bool = False
    list_notes: bool = False
    refuse_unfinished: bool = False

    @classmethod
    def from_config(cls, config: SimulatorConfig) -> RuntimeSettings:
        """The settings a fresh simulator starts with (its profile's traits included)."""
        settings = cls(
            latency_ms=config.latency_ms,
            idle_minutes=config.idle_minutes,
            absolute_hours=config.absolute_hours,
        )
        settings.apply_profile(config.profile)
        return settings

    def apply_profile(self, profile: str) -> None:
        """Set every trait as the profile has it (other settings are left alone)."""
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {list(PROFILES)}")
        plain = RuntimeSettings()
        for name, wild in WILD_TRAITS.items():
            setattr(self, name, wild if profile == "wild" else getattr(plain, name))
        self.profile = "wild" if profile == "wild" else "standard"

    def as_json(self) -> dict[str, Any]:
        """The settings as the control API shows them (camelCase keys)."""
        return {_camel(item.name): getattr(self, item.name) for item in fields(self)}

    def as_tuple(self) -> tuple[Any, ...]:
        """The settings as a hashable value (part of cache keys)."""
        return tuple(getattr(self, item.name) for item in fields(self))

    def update(self, changes: dict[str, Any]) -> None:
        """Apply camelCase changes from the control API, refusing unknown keys or values.

        A `profile` in the changes is applied first, so the other keys refine it.
        """
        by_camel = {_camel(item.name): item.name for item in fields(self)}
        for key, value in changes.items():
            name = by_camel.get(key)
            if name is None:
                raise ValueError(f"unknown setting {key!r}; known: {sorted(by_camel)}")
            _check(name, value)
        if "profile" in changes:
            self.apply_profile(changes["profile"])
        for key, value in changes.items():
            if key != "profile":
                setattr(self, by_camel[key], value)


_CHOICES: dict[str, tuple[str, ...]] = {
    "login_variant": LOGIN_VARIANTS,
    "calendar_envelope": CALENDAR_ENVELOPES,
    "session_expired_response": SESSION_EXPIRED_RESPONSES,
    "profile": PROFILES,
}
# Integer settings and their largest value (None: unbounded).
_COUNTS: dict[str, int | None] = {
    "latency_ms": None,
    "idle_minutes": None,
    "absolute_hours": None,
    "login_form_delay_ms": MAX_LOGIN_FORM_DELAY_MS,
    "login_redirect_hops": MAX_REDIRECT_HOPS,
}


def _check(name: str, value: Any) -> None:
    if name in _CHOICES and value not in _CHOICES[name]:
        raise ValueError(f"{_camel(name)} must be one of {list(_CHOICES[name])}")
    if name in _COUNTS:
        highest = _COUNTS[name]
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{_camel(name)} must be a non-negative integer")
        if highest is not None and value > highest:
            raise ValueError(f"{_camel(name)} must be at most {highest}")
    elif name not in _CHOICES and not isinstance(value, bool):
        raise ValueError(f"{_camel(name)} must be true or false")


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.capitalize() for part in rest)


DEFAULTS = SimulatorConfig()
