"""What a login and the data calls looked like, for `pims-sync doctor` (no personal data).

Holds paths (never queries), cookie names (never values), timings and trait names only.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LoginStep:
    """One step of the login and how long it took."""

    name: str
    milliseconds: int


@dataclass
class LoginTrace:
    """How a login went: steps, redirect chain (paths only), cookie names, traits met."""

    steps: list[LoginStep] = field(default_factory=list)
    redirects: list[str] = field(default_factory=list)
    cookie_names: list[str] = field(default_factory=list)
    landing_path: str | None = None
    traits: set[str] = field(default_factory=set)

    def step(self, name: str, milliseconds: float) -> None:
        """Record one step."""
        self.steps.append(LoginStep(name, round(milliseconds)))
