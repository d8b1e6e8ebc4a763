"""What `/health` and `/ready` report: process, memory and database checks."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from urllib.parse import unquote, urlsplit

from pims_sync import __version__
from pims_sync.bootstrap import Services
from pims_sync.metrics import process_memory
from pims_sync.shapes.service import CheckStatus, Health, HealthCheck, Memory

logger = logging.getLogger(__name__)

SERVICE_NAME = "pims-sync"
DATABASE_TIMEOUT_S = 5.0
# The original's threshold (HEALTH_THRESHOLDS.MAX_HEAP_MB), applied to heapUsed.
MAX_HEAP_BYTES = 900 * 1024 * 1024
MIB = 1024 * 1024


def _hide_password(text: str, database_url: str) -> str:
    password = urlsplit(database_url).password
    if not password:
        return text
    return text.replace(password, "***").replace(unquote(password), "***")


def describe_database_error(error: BaseException, database_url: str) -> str:
    """One line about a database failure: the driver's first line, never credentials."""
    cause = getattr(error, "orig", None) or error
    lines = str(cause).strip().splitlines()
    first = lines[0] if lines else type(cause).__name__
    return _hide_password(first, database_url)


async def database_error(services: Services) -> str | None:
    """None when `SELECT 1` comes back in time, else why it did not."""
    try:
        async with asyncio.timeout(DATABASE_TIMEOUT_S):
            await services.ping_database()
    except TimeoutError:
        return f"the database did not answer within {DATABASE_TIMEOUT_S:g} s"
    except Exception as error:  # noqa: BLE001 - readiness reports any failure, never a 500
        message = describe_database_error(error, services.settings.database_url)
        logger.warning("database check failed: %s", message)
        return message
    return None


async def check_process(_services: Services) -> HealthCheck:
    """Always passes while the process answers."""
    return HealthCheck(name="process", status="pass", message="Process is running")


async def check_memory(_services: Services) -> HealthCheck:
    """Fails when heapUsed passes the original's 900 MiB threshold."""
    memory = process_memory()
    message = f"Heap: {memory.heap_used // MIB}MB / {memory.heap_total // MIB}MB"
    status: CheckStatus = "pass" if memory.heap_used < MAX_HEAP_BYTES else "fail"
    return HealthCheck(name="memory", status=status, message=message)


async def check_database(services: Services) -> HealthCheck:
    """A real round trip to the database."""
    error = await database_error(services)
    if error is None:
        return HealthCheck(name="database", status="pass", message="Database connected")
    return HealthCheck(name="database", status="fail", message=f"Database unreachable: {error}")


async def check_scheduler(services: Services) -> HealthCheck:
    """Warns (never fails) when this process runs no scheduler: disabled, or not started."""
    if services.scheduler_running:
        return HealthCheck(name="scheduler", status="pass", message="Scheduler running")
    message = "Scheduler not running in this process"
    return HealthCheck(name="scheduler", status="warn", message=message)


# Later components (browser) add their check here.
CHECKS: list[Callable[[Services], Awaitable[HealthCheck]]] = [
    check_process,
    check_memory,
    check_database,
    check_scheduler,
]


async def health_report(services: Services) -> Health:
    """Run every check; healthy when none failed."""
    checks = [await check(services) for check in CHECKS]
    healthy = all(check.status != "fail" for check in checks)
    memory = process_memory()
    uptime = services.metrics.uptime()
    return Health(
        status="healthy" if healthy else "unhealthy",
        service=SERVICE_NAME,
        version=__version__,
        timestamp=datetime.now(UTC),
        uptime=round(uptime, 3),
        uptime_seconds=int(uptime),
        memory=Memory(rss=memory.rss, heap_used=memory.heap_used, heap_total=memory.heap_total),
        checks=checks,
    )
