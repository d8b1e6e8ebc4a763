"""One Chromium per process, only while logins need it; one guarded context per clinic.

Chromium and the Playwright driver start at the first login and stop once no login has
been in progress for `browser_idle_seconds` (BROWSER_IDLE_SECONDS): a watcher task closes
each context idle that long, and with the last one the browser and the driver, so a
worker between logins (warm runs go over HTTP with cached cookies) holds no browser
memory. Logins of several clinics at once share the browser, each in its own context, at
most `max_contexts` open. Chromium gets a minimal environment (never the service's keys)
and a private HOME; every context is bound to its PIMS origin by a `ContextGuard`
(guard.py) and reaches the network only through its proxy. A Chromium that cannot start
is `PimsBrowserUnavailableError` at once (never retried); one that dies during a login is
`BrowserCrashedError`, retried once with a relaunched browser (browser_errors.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from playwright.async_api import Browser, BrowserContext, Playwright, async_playwright
from playwright.async_api import Error as PlaywrightError

from pims_sync.adapters.idexx.browser_errors import (
    LAUNCH_TIMEOUT_SECONDS,
    cannot_start,
    check_executable,
    context_alive,
    first_line,
    launch_failure,
)
from pims_sync.adapters.idexx.config import IdexxOptions
from pims_sync.adapters.idexx.guard import Blocked, ContextGuard, Origin
from pims_sync.errors import BrowserCrashedError, ConfigError

log = logging.getLogger(__name__)

# The only variables Chromium inherits (HOME is its own temporary directory): never the
# service's ENCRYPTION_KEY, DATABASE_URL or anything else of its environment.
BROWSER_ENV = ("PATH", "LANG", "LC_ALL", "TZ")
DISPLAY_ENV = ("DISPLAY", "XAUTHORITY", "WAYLAND_DISPLAY")  # a visible window only
SANDBOX_AS_ROOT = (
    "BROWSER_SANDBOX=true needs a non-root user: Chromium refuses its sandbox as root "
    "(see docs/deploy.md, 'The browser sandbox')"
)


def browser_environment(
    home: str, *, headless: bool, source: Mapping[str, str] | None = None
) -> dict[str, str]:
    """Chromium's whole environment: PATH, locale, TZ, a private HOME (and the display)."""
    source = os.environ if source is None else source
    names = BROWSER_ENV if headless else BROWSER_ENV + DISPLAY_ENV
    env = {name: source[name] for name in names if name in source}
    env.setdefault("PATH", os.defpath)
    env["HOME"] = home
    return env


@dataclass
class _Lease:
    """A clinic's context, its guard, and when it was last handed back."""

    context: BrowserContext
    guard: ContextGuard
    in_use: bool = False
    released_at: float = 0.0

    async def close(self) -> None:
        await _close_context(self.context)
        self.guard.close()


class BrowserPool:
    """Hands out the clinic's browser context; at most `max_contexts` open at once."""

    def __init__(
        self,
        options: IdexxOptions,
        clock: Callable[[], float] = time.monotonic,
        on_change: Callable[[int], None] | None = None,
    ) -> None:
        self._options = options
        self._clock = clock
        self._on_change = on_change  # told the number of open contexts (a metrics gauge)
        self._playwright: Playwright | None = None
        self._browser: Browser | None = None
        self._leases: dict[str, _Lease] = {}
        self._changed = asyncio.Condition()
        self._home: str | None = None
        self._watcher: asyncio.Task[None] | None = None
        self.launches = 0
        # Requests the guards blocked, by (kind, host), for every context of this pool.
        self.blocked: Blocked = Counter()

    @property
    def open_contexts(self) -> int:
        """How many contexts are open now."""
        return len(self._leases)

    @property
    def browser_running(self) -> bool:
        """Whether a Chromium process is up."""
        return self._browser is not None and self._browser.is_connected()

    @property
    def driver_running(self) -> bool:
        """Whether the Playwright driver (a node process) is up."""
        return self._playwright is not None

    @asynccontextmanager
    async def context(self, clinic_key: str, base_url: str) -> AsyncIterator[BrowserContext]:
        """The clinic's context, guarded for `base_url`'s origin, for the block.

        Waits when at the cap. A context bound to another origin (the clinic's base URL
        changed) is closed and a new one opened.
        """
        lease = await self._acquire(clinic_key, base_url)
        try:
            yield lease.context
        finally:
            async with self._changed:
                lease.in_use = False
                lease.released_at = self._clock()
                if not context_alive(lease.context) and self._leases.get(clinic_key) is lease:
                    del self._leases[clinic_key]  # died with its browser: never hand it out
                    lease.guard.close()
                self._changed.notify_all()
                self._report()
                self._watch_idle()

    async def _acquire(self, clinic_key: str, base_url: str) -> _Lease:
        async with self._changed:
            while True:
                await self._close_idle_locked()
                lease = self._leases.get(clinic_key)
                if lease is not None and not lease.in_use and not _fits(lease, base_url):
                    # Its browser crashed while it was idle, or it serves another origin.
                    await self._leases.pop(clinic_key).close()
                    lease = None
                if lease is not None and not lease.in_use:
                    lease.in_use = True
                    return lease
                if lease is None and (
                    len(self._leases) < self._options.max_contexts or await self._evict_one()
                ):
                    lease = await self._new_lease(base_url)
                    self._leases[clinic_key] = lease
                    self._report()
                    return lease
                await self._changed.wait()

    async def _new_lease(self, base_url: str) -> _Lease:
        browser = await self._ensure_browser()
        guard = ContextGuard(base_url, blocked=self.blocked)
        try:
            context = await browser.new_context(
                locale="en-US",
                viewport={"width": 1280, "height": 720},
                user_agent=self._options.user_agent,  # the one the HTTP data calls send too
                proxy={"server": await guard.start()},  # loopback included (Playwright)
                service_workers="block",  # their requests would escape the context's routes
            )
        except PlaywrightError as error:
            guard.close()
            if browser.is_connected():
                raise
            raise BrowserCrashedError(first_line(error)) from error  # died since the check
        except BaseException:
            guard.close()
            raise
        lease = _Lease(context, guard, in_use=True)
        try:
            await guard.install(context)
        except BaseException:
            await lease.close()
            raise
        return lease

    async def _ensure_browser(self) -> Browser:
        if self._browser is not None and self._browser.is_connected():
            return self._browser
        if self._browser is not None:
            log.warning("browser gone; relaunching", extra={"launches": self.launches})
            for lease in self._leases.values():
                lease.guard.close()
            self._leases.clear()
            self._browser = None
            self._remove_home()
        if self._options.sandbox and os.geteuid() == 0:
            raise ConfigError(SANDBOX_AS_ROOT)  # else every login would fail, retried, unclear
        self._browser = await self._launch()
        self._browser.on("disconnected", self._forget_browser)
        self.launches += 1
        return self._browser

    async def _launch(self) -> Browser:
        """Start Chromium, or raise `PimsBrowserUnavailableError` saying why and what to do."""
        path = self._options.executable_path
        check_executable(path)  # before Playwright: a clear cause, at once
        if self._playwright is None:
            _quiet_driver_exit(asyncio.get_running_loop())
            self._playwright = await async_playwright().start()
        self._home = tempfile.mkdtemp(prefix="pims-sync-chromium-")  # mode 0700
        try:
            return await self._playwright.chromium.launch(
                executable_path=path,
                headless=self._options.headless,
                args=self._options.chromium_args(),
                chromium_sandbox=self._options.sandbox,  # else Playwright adds --no-sandbox
                env={**browser_environment(self._home, headless=self._options.headless)},
                timeout=LAUNCH_TIMEOUT_SECONDS * 1000,
            )
        except PlaywrightError as error:
            self._remove_home()
            raise cannot_start(path, launch_failure(error)) from error

    def _forget_browser(self, browser: Browser) -> None:
        # Contexts die with their browser; the next acquire relaunches.
        if browser is self._browser:
            for lease in self._leases.values():
                if not lease.in_use:
                    lease.guard.close()  # its context is gone; a leased one closes on return
            self._leases = {k: v for k, v in self._leases.items() if v.in_use}

    async def _evict_one(self) -> bool:
        idle = [(lease.released_at, key) for key, lease in self._leases.items() if not lease.in_use]
        if not idle:
            return False
        _, key = min(idle)
        await self._leases.pop(key).close()
        return True

    async def _close_idle_locked(self) -> None:
        cutoff = self._clock() - self._options.browser_idle_seconds
        for key, lease in list(self._leases.items()):
            if not lease.in_use and lease.released_at <= cutoff:
                await self._leases.pop(key).close()
        if not self._leases:
            # No login in progress and none for the idle time: Chromium and its driver go.
            await self._close_browser()
            await self._stop_driver()
        self._report()

    def _watch_idle(self) -> None:
        """Start the task that stops idle contexts, the browser and the driver (if none runs)."""
        if self._watcher is None or self._watcher.done():
            # A context of its own: the run that started it is not the one it outlives.
            self._watcher = asyncio.create_task(
                self._stop_when_idle(), name="browser-idle", context=contextvars.Context()
            )

    async def _stop_when_idle(self) -> None:
        # Sleeps until the next idle context is due; ends once browser and driver are gone.
        idle = self._options.browser_idle_seconds
        while True:
            async with self._changed:
                await self._close_idle_locked()
                if not self._leases and self._browser is None and self._playwright is None:
                    return
                released = [
                    lease.released_at for lease in self._leases.values() if not lease.in_use
                ]
                due = min(released) + idle - self._clock() if released else idle
            await asyncio.sleep(max(due, 0.05))

    def _report(self) -> None:
        if self._on_change is not None:
            self._on_change(len(self._leases))

    async def close_idle(self) -> None:
        """Close contexts idle for longer than allowed (and the browser if none is left)."""
        async with self._changed:
            await self._close_idle_locked()

    async def _close_browser(self) -> None:
        browser, self._browser = self._browser, None
        if browser is not None:
            with contextlib.suppress(PlaywrightError):  # already dead
                await browser.close()
        self._remove_home()

    async def _stop_driver(self) -> None:
        playwright, self._playwright = self._playwright, None
        if playwright is not None:
            with contextlib.suppress(Exception):  # the driver already died: nothing to stop
                await playwright.stop()
            log.info("browser stopped: no login in progress", extra={"launches": self.launches})

    def _remove_home(self) -> None:
        home, self._home = self._home, None
        if home is not None:
            shutil.rmtree(home, ignore_errors=True)

    async def aclose(self) -> None:
        """Close every context, the browser and Playwright."""
        watcher, self._watcher = self._watcher, None
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        async with self._changed:
            for lease in self._leases.values():
                await lease.close()
            self._leases.clear()
            await self._close_browser()
            await self._stop_driver()


async def _close_context(context: BrowserContext) -> None:
    with contextlib.suppress(PlaywrightError):  # its browser crashed; nothing to release
        await context.close()


_DRIVER_GONE = "Connection closed while reading from the driver"


def _quiet_driver_exit(loop: asyncio.AbstractEventLoop) -> None:
    """Keep a stopped Playwright driver from printing an orphaned-future traceback.

    Ctrl-C in a terminal signals the whole process group, so the driver (node) often
    exits before we stop it; Playwright then leaves a future holding that error which
    nobody awaits, and asyncio prints it at exit. A crash mid-run is still seen:
    the next call fails and the pool relaunches the browser.
    """
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_driver_exit", False):
        return  # installed by an earlier launch on this loop

    def handle(loop: asyncio.AbstractEventLoop, context: dict[str, object]) -> None:
        if _DRIVER_GONE in str(context.get("exception", "")):
            log.info("browser driver stopped")
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handle.quiets_driver_exit = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handle)


def _fits(lease: _Lease, base_url: str) -> bool:
    """Whether an idle lease can serve `base_url`: alive, and bound to its origin."""
    return context_alive(lease.context) and lease.guard.origin == Origin.of(base_url)
