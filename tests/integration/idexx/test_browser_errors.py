"""A Chromium that cannot start, or dies during the login, is one typed, one-line error.

Start failures (a missing file, a directory, a file that is not executable, a program that
exits at once) are `PimsBrowserUnavailableError` at once, never retried. A Chromium killed
while the login page waits for its form is relaunched for one retry; killed again, the
login ends with the typed error.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import psutil
import pytest
import pytest_asyncio

from pims_sync.adapters.idexx.browser_errors import BROWSER_FIX, CRASH_FIX
from pims_sync.adapters.idexx.provider import IdexxProvider
from pims_sync.errors import PimsBrowserUnavailableError
from pims_sync.simulator.server import BackgroundSimulator
from tests.integration.idexx.harness import (
    SimulatorControl,
    chromium_pids,
    clinic_login,
    idexx_options,
)

pytestmark = [pytest.mark.browser, pytest.mark.asyncio(loop_scope="session")]

# Long enough that the killer finds the page waiting for its form.
FORM_DELAY_MS = 4000
KILL_WAIT_S = 30


def script(tmp_path: Path, body: str, *, mode: int = 0o755) -> Path:
    """A shell script standing in for Chromium."""
    path = tmp_path / "chromium"
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(mode)
    return path


def start_failures(tmp_path: Path) -> dict[str, tuple[str, str]]:
    """Name: (BROWSER_EXECUTABLE_PATH, the cause the message names)."""
    launches = tmp_path / "launches"
    exits = script(
        tmp_path,
        f"echo launched >> {launches}\n"
        "echo 'chromium: error while loading shared libraries: libnss3.so' >&2\nexit 127",
    )
    plain = tmp_path / "plain"
    plain.write_text("not a program")
    plain.chmod(0o644)
    return {
        "missing": (str(tmp_path / "nope" / "chromium"), "no such file"),
        "directory": (str(tmp_path), "a directory, not a program"),
        "not executable": (str(plain), "not executable"),
        "exits at once": (
            str(exits),
            "exited with code 127: chromium: error while loading shared libraries: libnss3.so",
        ),
    }


@pytest.mark.parametrize("case", ["missing", "directory", "not executable", "exits at once"])
async def test_a_browser_that_cannot_start_is_typed_at_once(
    simulator: BackgroundSimulator, sim: SimulatorControl, tmp_path: Path, case: str
) -> None:
    path, cause = start_failures(tmp_path)[case]
    provider = IdexxProvider(idexx_options(simulator.base_url, executable_path=path))
    try:
        with pytest.raises(PimsBrowserUnavailableError) as raised:
            async with provider.session(clinic_login()):
                pass
    finally:
        await provider.aclose()
    message = str(raised.value)
    assert message == f"Chromium could not start ({path}: {cause}): {BROWSER_FIX}"
    assert "\n" not in message
    assert raised.value.code == "pims_browser_unavailable"
    assert provider.pool.launches == 0
    assert sim.requests("login-page") == 0
    launches = tmp_path / "launches"
    if case == "exits at once":  # started once: a start failure is not retried
        assert launches.read_text().splitlines() == ["launched"]


class Killer:
    """Kills this test's Chromium each time the login page has been served, `rounds` times."""

    def __init__(self, sim: SimulatorControl, rounds: int) -> None:
        self._sim = sim
        self._rounds = rounds
        self._spared = chromium_pids()  # other tests' browsers (the session's provider)
        self.kills = 0
        self.error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="chromium-killer", daemon=True)

    @contextlib.contextmanager
    def running(self) -> Iterator[Killer]:
        self._thread.start()
        try:
            yield self
        finally:
            self._thread.join(timeout=KILL_WAIT_S)
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            for round_ in range(1, self._rounds + 1):
                self._wait_for_page(round_)
                self._kill()
        except BaseException as error:  # noqa: BLE001 - re-raised in the test's thread
            self.error = error

    def _wait_for_page(self, round_: int) -> None:
        deadline = time.monotonic() + KILL_WAIT_S
        while self._sim.requests("login-page") < round_:
            if time.monotonic() > deadline:
                raise AssertionError(f"the login page was not loaded a {round_}. time")
            time.sleep(0.05)

    def _kill(self) -> None:
        pids = chromium_pids() - self._spared
        assert pids, "no Chromium of this test to kill"
        for pid in pids:
            with contextlib.suppress(psutil.NoSuchProcess):
                psutil.Process(pid).kill()
        self.kills += 1


@pytest_asyncio.fixture(loop_scope="session")
async def slow_form(
    simulator: BackgroundSimulator, sim: SimulatorControl
) -> AsyncIterator[IdexxProvider]:
    """A provider of its own whose login page waits FORM_DELAY_MS for its form."""
    sim.settings(loginFormDelayMs=FORM_DELAY_MS)
    provider = IdexxProvider(idexx_options(simulator.base_url))
    yield provider
    await provider.aclose()


async def test_a_browser_that_dies_twice_during_the_login_is_typed(
    slow_form: IdexxProvider, sim: SimulatorControl
) -> None:
    with (
        Killer(sim, rounds=2).running() as killer,
        pytest.raises(PimsBrowserUnavailableError) as raised,
    ):
        async with slow_form.session(clinic_login()):
            pass
    message = str(raised.value)
    assert message.startswith("Chromium stopped during the IDEXX Neo login, twice (")
    assert message.endswith(f"): {CRASH_FIX}")
    assert "\n" not in message
    assert killer.kills == 2
    assert slow_form.pool.launches == 2  # relaunched once for the retry, not a third time
    assert sim.requests("login-page") == 2
    assert sim.logins() == 0


async def test_a_browser_that_dies_once_during_the_login_is_relaunched_and_logs_in(
    slow_form: IdexxProvider, sim: SimulatorControl
) -> None:
    with Killer(sim, rounds=1).running():
        async with slow_form.session(clinic_login()) as session:
            assert session.logins == 1
    assert slow_form.pool.launches == 2
    assert sim.logins() == 1
