"""IdexxOptions: everything the IDEXX adapter can be tuned with, from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from pims_sync.domain.retry import RetryPolicy
from pims_sync.settings import Settings

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
)

# One desktop-Chrome identity for the login browser and the HTTP data calls alike (fresh
# and cached sessions): the original client spoofed Chrome 120 on macOS, and a headless
# browser's own string says "HeadlessChrome", which a site may turn away.
USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"
)


@dataclass(frozen=True, slots=True)
class IdexxOptions:
    """Base URL, browser, pacing, timeouts and retry rules for IDEXX Neo."""

    base_url: str = "https://us.idexxneo.com"
    headless: bool = True
    executable_path: str | None = None
    max_concurrency: int = 5
    rate_limit_per_second: float = 10.0
    request_timeout_seconds: float = 30.0
    login_timeout_seconds: float = 30.0
    # How long the login waits for a form drawn by script after the page settled.
    login_form_wait_seconds: float = 15.0
    user_agent: str = USER_AGENT
    max_contexts: int = 8
    context_idle_seconds: float = 300.0
    max_events_per_day: int = 400
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> IdexxOptions:
        """Options from the service settings; keyword overrides win."""
        values: dict[str, object] = {
            "base_url": settings.idexx_base_url,
            "headless": settings.headless,
            "executable_path": settings.browser_path(),
            "max_concurrency": settings.pims_max_concurrency,
            "rate_limit_per_second": settings.pims_rate_limit_per_second,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
