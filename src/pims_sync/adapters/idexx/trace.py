"""What a login and the data calls looked like, for `pims-sync doctor` (no personal data).

Holds paths (never queries), cookie and field names (never values), timings and trait
names only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Traits of the login page the login tolerated (names as the doctor's report shows them).
FORM_DRAWN_LATE = "form drawn late"
HIDDEN_FORM_FIELDS = "hidden form fields"
REDIRECT_CHAIN = "redirect chain"
CODE_INPUT_ON_LANDING = "code-like input on landing page"
NETWORK_NEVER_IDLE = "network never idle"


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
    hidden_fields: list[str] = field(default_factory=list)
    landing_path: str | None = None
    traits: set[str] = field(default_factory=set)

    def step(self, name: str, milliseconds: float) -> None:
        """Record one step."""
        self.steps.append(LoginStep(name, round(milliseconds)))

    def reset(self) -> None:
        """Forget an earlier attempt (a retried login records only its last attempt)."""
        self.steps.clear()
        self.redirects.clear()
        self.cookie_names.clear()
        self.hidden_fields.clear()
        self.landing_path = None
        self.traits.clear()
