"""IdexxOptions: everything the IDEXX adapter can be tuned with, from Settings."""

from __future__ import annotations

from dataclasses import dataclass, field

from pims_sync.domain.retry import RetryPolicy
from pims_sync.settings import Settings

CHROMIUM_ARGS = (
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
    # WebRTC may send UDP around the context's proxy (guard.py): it may use the proxy only.
    "--force-webrtc-ip-handling-policy=disable_non_proxied_udp",
)
# Chromium's sandbox needs a non-root user and user namespaces (docs/deploy.md); without
# them it does not start, so it is off unless BROWSER_SANDBOX=true.
NO_SANDBOX = "--no-sandbox"

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
    sandbox: bool = False
    max_concurrency: int = 5
    rate_limit_per_second: float = 10.0
    request_timeout_seconds: float = 30.0
    login_timeout_seconds: float = 30.0
    # How long the login waits for a form drawn by script after the page settled.
    login_form_wait_seconds: float = 15.0
    user_agent: str = USER_AGENT
    max_contexts: int = 8
    # No login in progress for this long: contexts, Chromium and the driver stop.
    browser_idle_seconds: float = 60.0
    max_events_per_day: int = 400
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    def chromium_args(self) -> list[str]:
        """Chromium's command-line switches (`--no-sandbox` unless the sandbox is on)."""
        return [*CHROMIUM_ARGS] if self.sandbox else [NO_SANDBOX, *CHROMIUM_ARGS]

    @classmethod
    def from_settings(cls, settings: Settings, **overrides: object) -> IdexxOptions:
        """Options from the service settings; keyword overrides win."""
        values: dict[str, object] = {
            "base_url": settings.idexx_base_url,
            "headless": settings.headless,
            "executable_path": settings.browser_path(),
            "sandbox": settings.browser_sandbox,
            "browser_idle_seconds": settings.browser_idle_seconds,
            "max_concurrency": settings.pims_max_concurrency,
            "rate_limit_per_second": settings.pims_rate_limit_per_second,
        }
        values.update(overrides)
        return cls(**values)  # type: ignore[arg-type]
