"""Why Chromium is not there: a start that failed (typed at once) or a death mid-login.

`PimsBrowserUnavailableError` says which Chromium, why, and what to do, in one line: it
reaches `credentials test`, `sync`, `doctor`, the API (503) and the run's audit row.
`BrowserCrashedError` is a death during a login; the login retries it once, then it becomes
the typed error (provider.py).
"""

from __future__ import annotations

import os
import re

from playwright.async_api import BrowserContext
from playwright.async_api import Error as PlaywrightError
from playwright.async_api import TimeoutError as PlaywrightTimeout

from pims_sync.errors import BrowserCrashedError, PimsBrowserUnavailableError

# What an operator does about a Chromium that will not start (docs/troubleshooting.md).
BROWSER_FIX = "set BROWSER_EXECUTABLE_PATH to a Chromium binary or run scripts/ensure-chromium.sh"
CRASH_FIX = "check the host's free memory and /dev/shm, or " + BROWSER_FIX
LAUNCH_TIMEOUT_SECONDS = 30.0
REASON_CHARS = 200
# Playwright's launch log: Chromium's own stderr lines, and how its process ended.
_CHROMIUM_SAID = re.compile(r"\[pid=\d+\]\[err\] *(.+)")
_EXIT_CODE = re.compile(r"exitCode=(\d+)")


def crashed_twice(error: BrowserCrashedError) -> PimsBrowserUnavailableError:
    """The typed, final error: the relaunched Chromium died during the login as well."""
    return PimsBrowserUnavailableError(
        f"Chromium stopped during the IDEXX Neo login, twice ({error.cause}): {CRASH_FIX}"
    )


def cannot_start(path: str | None, reason: str) -> PimsBrowserUnavailableError:
    """The one-line error for a Chromium that did not start: which one, why, what to do."""
    where = path or "Playwright's own Chromium"
    return PimsBrowserUnavailableError(
        f"Chromium could not start ({where}: {reason}): {BROWSER_FIX}"
    )


def check_executable(path: str | None) -> None:
    """`PimsBrowserUnavailableError` unless `path` (when one is set) is an executable file."""
    if path is None:
        return
    if not os.path.exists(path):
        reason = "no such file"
    elif os.path.isdir(path):
        reason = "a directory, not a program"
    elif not os.access(path, os.X_OK):
        reason = "not executable"
    else:
        return
    raise cannot_start(path, reason)


def launch_failure(error: PlaywrightError) -> str:
    """Why Playwright could not start Chromium, in a few words (Chromium's last error line)."""
    if isinstance(error, PlaywrightTimeout):
        return f"no answer within {LAUNCH_TIMEOUT_SECONDS:.0f} s"
    text = error.message or ""
    said = _CHROMIUM_SAID.findall(text)
    code = _EXIT_CODE.search(text)
    if said or code:
        how = f"exited with code {code.group(1)}" if code else "exited at once"
        return _clip(f"{how}: {said[-1].strip()}" if said else how)
    first = text.splitlines()[0] if text.strip() else type(error).__name__
    return _clip(first.removeprefix("BrowserType.launch: "))


def browser_gone(context: BrowserContext, error: PlaywrightError) -> bool:
    """Whether `error` means the context's browser died (not a page or network failure)."""
    return type(error).__name__ == "TargetClosedError" or not context_alive(context)


def first_line(error: PlaywrightError) -> str:
    """Playwright's message, first line only, clipped."""
    text = error.message or ""
    return _clip(text.splitlines()[0] if text.strip() else type(error).__name__)


def _clip(text: str) -> str:
    return text if len(text) <= REASON_CHARS else text[: REASON_CHARS - 1] + "…"


def context_alive(context: BrowserContext) -> bool:
    """Whether the context's browser is still connected."""
    browser = context.browser
    return browser is not None and browser.is_connected()
