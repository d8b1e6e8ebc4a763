"""Issue 7's must-show: every screen of `pims-sync cli` against a real service, headless.

One simulator, one real API server (uvicorn in a thread, SQLite) and one clinic for the
module; the tests run in file order (the runs of the first ones fill the history, status
and scheduler screens of the later ones). Each screen is driven by Textual's pilot at
80×24. With `PIMS_SYNC_WRITE_SCREENS=1` the tests also write each screen as text and SVG
under docs/console/ (the captures linked from the README).
"""

from __future__ import annotations

import asyncio
import io
import os
import re
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from rich.console import Console
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Sparkline, Static

from pims_sync.adapters.sql.migrate import upgrade_database
from pims_sync.bootstrap import build_services
from pims_sync.cli.console.app import ConsoleApp, MenuScreen
from pims_sync.cli.console.client import ServiceClient
from pims_sync.cli.console.screens.health import HealthScreen
from pims_sync.cli.console.screens.history import HistoryScreen
from pims_sync.cli.console.screens.run_sync import RunSyncScreen
from pims_sync.cli.console.screens.scheduler import SchedulerScreen
from pims_sync.cli.console.screens.status import StatusScreen
from pims_sync.settings import Settings
from tests.e2e.sync_stack import ENCRYPTION_KEY, TODAY, Stack, running_stack
from tests.log_scan import feed

pytestmark = pytest.mark.browser

SIZE = (80, 24)
SCREENS_DIR = Path(__file__).resolve().parents[2] / "docs" / "console"
WRITE_SCREENS = os.environ.get("PIMS_SYNC_WRITE_SCREENS") == "1"
CALENDAR_FAULT = {"endpoint": "calendar", "status": 500, "rate": 1.0}


@pytest.fixture(scope="module")
def database(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'pims-sync.db'}"
    upgrade_database(url)
    return url


@pytest.fixture(scope="module")
def stack(database: str) -> Iterator[Stack]:
    yield from running_stack(database)


def base_url(stack: Stack) -> str:
    return str(stack.api.base_url).rstrip("/")


def api_key(stack: Stack) -> str:
    return stack.api.headers["X-API-Key"]


def console_app(stack: Stack, *, url: str | None = None, key: str | None = None) -> ConsoleApp:
    client = ServiceClient(url or base_url(stack), key or api_key(stack))
    return ConsoleApp(client, refresh_seconds=0.2)


def screen_text(app: ConsoleApp) -> str:
    """What the terminal shows, as plain text (Textual's SVG export, without the styles)."""
    width, height = app.size
    console = Console(
        width=width, height=height, file=io.StringIO(), record=True, force_terminal=True
    )
    update = app.screen._compositor.render_update(full=True, screen_stack=app._background_screens)
    console.print(update)
    return console.export_text()


def capture(app: ConsoleApp, name: str) -> str:
    """The screen as text; also written to docs/console/ when asked."""
    text = screen_text(app)
    if WRITE_SCREENS:
        SCREENS_DIR.mkdir(parents=True, exist_ok=True)
        lines = [line.rstrip() for line in text.splitlines()]
        (SCREENS_DIR / f"{name}.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
        (SCREENS_DIR / f"{name}.svg").write_text(
            app.export_screenshot(title=f"pims-sync cli: {name}"), encoding="utf-8"
        )
    return text


async def until(pilot: Pilot[None], done: Callable[[], bool], timeout: float = 60.0) -> None:
    """Let the app run until `done()` (fails the test after `timeout` seconds)."""
    for _ in range(int(timeout / 0.05)):
        if done():
            await pilot.pause()
            return
        await pilot.pause(0.05)
    pytest.fail("the console did not get there in time")


def text_of(app: ConsoleApp, selector: str) -> str:
    return str(app.screen.query_one(selector, Static).render())


async def connected_menu(pilot: Pilot[None]) -> None:
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    await until(pilot, lambda: "connected to" in text_of(app, "#banner"))


def fill(app: ConsoleApp, **values: str) -> None:
    for name, value in values.items():
        app.screen.query_one(f"#{name}", Input).value = value


async def run_sync(pilot: Pilot[None], kind: str) -> RunSyncScreen:
    """From the menu: 1, a bad value first (refused, form kept), then a small run."""
    app = pilot.app
    assert isinstance(app, ConsoleApp)
    await connected_menu(pilot)
    await pilot.press("1")
    screen = app.screen
    assert isinstance(screen, RunSyncScreen)
    fill(app, start=TODAY.isoformat(), days="abc", lookback="1")
    await pilot.press("enter")
    await pilot.pause()
    assert "days ahead must be a whole number" in text_of(app, "#error")
    capture(app, f"run-sync-form-{kind}")
    assert screen.tracker is None
    assert app.focused is screen.query_one("#days")
    screen.query_one("#kind").value = kind  # type: ignore[attr-defined]
    fill(app, days="1")
    await pilot.press("enter")
    tracker = screen.tracker
    assert tracker is not None
    await until(pilot, lambda: screen.query_one("#stats", DataTable).row_count > 0)
    return screen


async def test_menu_shows_the_six_choices_and_the_connection(stack: Stack) -> None:
    app = console_app(stack)
    async with app.run_test(size=SIZE) as pilot:
        await connected_menu(pilot)
        text = capture(app, "menu")
    assert "PIMS SYNC CLI v" in text
    for choice in ("1. Run Sync (with progress)", "2. View Sync Status", "3. View Sync History"):
        assert choice in text
    for choice in ("4. Live Health Monitor", "5. Scheduler Status", "6. Exit"):
        assert choice in text
    assert "E2E Clinic (America/Los_Angeles)" in text


async def test_a_full_run_reaches_100_percent_with_a_log_and_stats(stack: Stack) -> None:
    app = console_app(stack)
    async with app.run_test(size=SIZE) as pilot:
        screen = await run_sync(pilot, "full")
        text = capture(app, "run-sync")
        tracker = screen.tracker
        assert tracker is not None
        assert tracker.outcome == "completed"
        assert [b.percentage for b in tracker.bars.values()] == [100.0, 100.0, 100.0], tracker.bars
        assert len(tracker.log) == 10  # the last ten lines: older ones scrolled away
        assert tracker.log[-1] == "✓ Sync completed"
        assert screen.query_one("#stats", DataTable).row_count == 3
    assert "completed in" in text
    assert text.count("100%") == 3
    for phase in ("inbound", "cases", "reconciliation"):
        assert phase in text
    assert "✓ ok" in text
    assert "Processing Log" in text


async def test_a_failed_run_is_shown_as_failed(stack: Stack) -> None:
    stack.control.post("/faults", CALENDAR_FAULT)
    app = console_app(stack)
    try:
        async with app.run_test(size=SIZE) as pilot:
            screen = await run_sync(pilot, "inbound")
            text = capture(app, "run-sync-failed")
            tracker = screen.tracker
            assert tracker is not None
            assert tracker.outcome == "failed"
    finally:
        stack.control.post("/faults", {"clear": True})
    assert "✗ inbound sync" in text
    assert "failed after" in text
    assert "✗ Sync failed" in text
    assert "✗ failed" in text  # the stats table's outcome


async def test_status_shows_the_last_run_live(stack: Stack) -> None:
    app = console_app(stack)
    async with app.run_test(size=SIZE) as pilot:
        await connected_menu(pilot)
        await pilot.press("2")
        assert isinstance(app.screen, StatusScreen)
        await until(pilot, lambda: "Run " in text_of(app, "#run"))
        text = capture(app, "status")
    assert "✗ failed" in text
    assert "inbound" in text
    assert "triggered by api" in text


async def test_history_lists_runs_with_stats_rate_and_filters(stack: Stack) -> None:
    app = console_app(stack)
    async with app.run_test(size=SIZE) as pilot:
        await connected_menu(pilot)
        await pilot.press("3")
        screen = app.screen
        assert isinstance(screen, HistoryScreen)
        table = screen.query_one("#runs", DataTable)
        await until(pilot, lambda: table.row_count == 2)
        text = capture(app, "history")
        await pilot.press("s")  # status filter: completed
        await until(pilot, lambda: "status completed" in text_of(app, "#summary"))
        await until(pilot, lambda: table.row_count == 1)
        assert "✓ done" in str(table.get_row_at(0))
    assert "2 runs · success rate 50.0%" in text
    assert "✓ done" in text
    assert "✗ failed" in text
    assert "found 114 new 114" in text


async def test_health_monitor_shows_memory_uptime_rate_and_sparklines(stack: Stack) -> None:
    app = console_app(stack)
    async with app.run_test(size=SIZE) as pilot:
        await connected_menu(pilot)
        await pilot.press("4")
        screen = app.screen
        assert isinstance(screen, HealthScreen)
        rate = screen.query_one("#rate-trend", Sparkline)
        await until(pilot, lambda: len(list(rate.data or [])) >= 5)
        text = capture(app, "health")
    assert "● healthy" in text
    assert "uptime" in text
    assert "rss" in text
    assert "req/s" in text
    assert "requests/s, last" in text


async def put_schedules(stack: Stack, database: str) -> None:
    """A daily full run (on) and a weekday reconciliation (off) for the clinic."""
    services = build_services(Settings(database_url=database, encryption_key=ENCRYPTION_KEY))
    entries = [
        {"type": "full", "cron": "0 6 * * *", "enabled": True, "options": {"daysAhead": 7}},
        {"type": "reconciliation", "cron": "30 22 * * 1-5", "enabled": False},
    ]
    try:
        await services.schedules.put(stack.clinic_id, entries)
    finally:
        await services.aclose()


async def test_scheduler_lists_jobs_in_the_clinic_time(stack: Stack, database: str) -> None:
    await put_schedules(stack, database)
    app = console_app(stack)
    async with app.run_test(size=SIZE) as pilot:
        await connected_menu(pilot)
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, SchedulerScreen)
        table = screen.query_one("#jobs", DataTable)
        await until(pilot, lambda: table.row_count == 2)
        text = capture(app, "scheduler")
        await pilot.press("down", "e")  # switch the reconciliation schedule on
        await until(pilot, lambda: "2 enabled jobs" in text_of(app, "#summary"))
        assert "✓ on" in str(table.get_row_at(1))
        await pilot.press("e")  # and off again
        await until(pilot, lambda: "1 enabled jobs" in text_of(app, "#summary"))
    assert "1 enabled jobs (full 1)" in text
    assert "0 6 * * *" in text
    assert "✓ on" in text
    assert "✗ off" in text
    assert "06:00 PST" in text or "06:00 PDT" in text  # the clinic's time, not UTC
    assert "pims-sync schedules set" in text
    # The clinic's freshness: its status and each phase's age (docs/freshness.md).
    assert re.search(r"(✓ fresh|! stale|✗ failing) · inbound \S+ · cases \S+", text), text


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_an_unreachable_service_is_a_clear_message(stack: Stack) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    app = console_app(stack, url=url)
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "✗" in text_of(app, "#banner"))
        assert f"cannot reach the service at {url}" in text_of(app, "#banner")
        capture(app, "unreachable")
        await pilot.press("3")
        await until(pilot, lambda: "cannot reach" in text_of(app, "#error"))


async def test_a_rejected_key_is_a_clear_message(stack: Stack) -> None:
    app = console_app(stack, key="0123abcd" * 8)  # a key's shape, but no stored key
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "✗" in text_of(app, "#banner"))
        banner = text_of(app, "#banner")
    assert "the API key was rejected: Invalid API key" in banner
    assert "64 hex" not in banner  # the shape was right: no hint about it


async def test_a_key_of_the_wrong_shape_is_named_as_such(stack: Stack) -> None:
    """Only the prefix (8 characters), as `keys list` shows it: the message says a key's shape."""
    app = console_app(stack, key=api_key(stack)[:8])
    async with app.run_test(size=SIZE) as pilot:
        await until(pilot, lambda: "✗" in text_of(app, "#banner"))
        banner = text_of(app, "#banner")
        capture(app, "key-rejected")
    assert "the API key was rejected: Invalid API key (a key is the 64 hex characters" in banner
    assert "this one has 8 characters" in banner


async def test_ctrl_c_and_escape_go_back_to_the_menu_then_exit(stack: Stack) -> None:
    app = console_app(stack)
    async with app.run_test(size=SIZE) as pilot:
        await connected_menu(pilot)
        await pilot.press("1")
        assert isinstance(app.screen, RunSyncScreen)
        await pilot.press("ctrl+c")  # the date field has the focus: Ctrl-C still leaves
        assert isinstance(app.screen, MenuScreen)
        await pilot.press("4", "escape")
        assert isinstance(app.screen, MenuScreen)
        await pilot.press("ctrl+c")
        await pilot.pause()
    assert app.return_code == 0


def test_plain_mode_without_a_terminal(stack: Stack, database: str) -> None:
    asyncio.run(put_schedules(stack, database))
    answers = "\n".join(
        [
            *("9", "1", "inbound", TODAY.isoformat(), "91", "1", ""),  # a bad choice, days 91
            *("inbound", "", "1", "1", ""),  # asked again: a one-day inbound run
            *("2", "3", "4", "5", "full", "5", "full", "", "6", ""),
        ]
    )
    env = {**os.environ, "PIMS_SYNC_URL": base_url(stack), "PIMS_SYNC_API_KEY": api_key(stack)}
    done = subprocess.run(
        [sys.executable, "-m", "pims_sync", "cli"],
        input=answers,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    feed(done.stderr, "pims-sync cli")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    if WRITE_SCREENS:
        (SCREENS_DIR / "plain.txt").write_text(out, encoding="utf-8")
    assert "1. Run Sync (with progress)" in out
    assert "✗ '9' is not a menu choice" in out
    assert "✗ days ahead must be a whole number from 0 to 90: try again" in out
    assert "100%" in out
    assert "✓ Sync completed" in out
    assert "Run      " in out
    assert "success rate" in out
    assert "full schedule switched off" in out
    assert "full schedule switched on" in out
    assert "req/s" in out
    assert "pims-sync schedules set" in out
    assert "Traceback" not in done.stderr


def test_plain_mode_with_an_unreachable_service() -> None:
    env = {**os.environ, "PIMS_SYNC_URL": f"http://127.0.0.1:{closed_port()}"}
    done = subprocess.run(
        [sys.executable, "-m", "pims_sync", "cli"],
        input="3\n6\n",
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0
    assert "✗ cannot reach the service at http://127.0.0.1:" in done.stdout
    assert "Traceback" not in done.stderr
