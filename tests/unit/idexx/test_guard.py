"""The login browser's rules without a browser: origins, addresses, lookups, environment, args."""

from __future__ import annotations

import asyncio
import ipaddress
import logging

import pytest

from pims_sync.adapters.idexx.browser import BrowserPool, browser_environment
from pims_sync.adapters.idexx.config import NO_SANDBOX, IdexxOptions
from pims_sync.adapters.idexx.egress import _one_shot, _Request
from pims_sync.adapters.idexx.guard import PRIVATE, UNRESOLVED, ContextGuard, Origin, is_public
from pims_sync.errors import ConfigError
from pims_sync.settings import Settings

PIMS = "https://us.idexxneo.com"
PUBLIC = "93.184.216.34"


class Resolver:
    """Answers from a table; counts lookups; a host missing from the table fails."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.asked: list[str] = []

    async def __call__(self, host: str) -> list[str]:
        self.asked.append(host)
        await asyncio.sleep(0)  # concurrent callers overlap here
        if host not in self.table:
            raise OSError("no such host")
        return self.table[host]


def test_origins_fill_in_default_ports_and_ignore_paths() -> None:
    assert Origin.of("https://US.idexxneo.com/login?next=/x") == Origin(
        "https", "us.idexxneo.com", 443
    )
    assert Origin.of("http://127.0.0.1:8080/a") == Origin("http", "127.0.0.1", 8080)
    assert Origin.of("http://[::1]/") == Origin("http", "::1", 80)
    assert Origin.of("https://us.idexxneo.com:443") == Origin.of(PIMS)
    assert Origin.of("http://us.idexxneo.com") != Origin.of(PIMS)
    for other in ("data:text/html,hi", "blob:https://x/1", "about:blank", "http://:80/"):
        assert Origin.of(other) is None


@pytest.mark.parametrize(
    ("address", "public"),
    [
        (PUBLIC, True),
        ("2606:4700::6810:84e5", True),
        ("127.0.0.1", False),
        ("127.8.9.10", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),
        ("169.254.169.254", False),
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("::1", False),
        ("::", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        ("::ffff:93.184.216.34", True),
    ],
)
def test_public_addresses(address: str, public: bool) -> None:
    assert is_public(ipaddress.ip_address(address)) is public


async def test_the_pims_origin_is_reached_by_name_without_a_lookup() -> None:
    resolver = Resolver({})
    guard = ContextGuard("http://pims.clinic.test:8443", resolve=resolver)
    assert await guard.addresses("PIMS.clinic.test", 8443) == ["pims.clinic.test"]
    assert resolver.asked == []
    assert not guard.blocked


async def test_loopback_is_the_pims_on_its_own_port_only() -> None:
    guard = ContextGuard("http://127.0.0.1:4000", resolve=Resolver({}))
    assert await guard.addresses("127.0.0.1", 4000) == ["127.0.0.1"]
    assert await guard.addresses("127.0.0.1", 3001) == []  # the service's own API
    assert await guard.addresses("localhost", 4000) == []  # same machine, another origin
    assert await guard.addresses("api.localhost", 3001) == []
    assert await guard.addresses("::1", 4000) == []
    hosts = ["127.0.0.1", "localhost", "api.localhost", "::1"]
    assert guard.blocked == {(PRIVATE, host): 1 for host in hosts}


async def test_names_are_resolved_once_and_refused_if_any_address_is_private() -> None:
    resolver = Resolver(
        {
            "cdn.example": [PUBLIC, "2606:4700::6810:84e5"],
            "rebind.example": [PUBLIC, "10.0.0.7"],
            "metadata.example": ["169.254.169.254"],
        }
    )
    guard = ContextGuard(PIMS, resolve=resolver)
    assert await guard.addresses("cdn.example", 443) == [PUBLIC, "2606:4700::6810:84e5"]
    assert await guard.addresses("cdn.example", 80) == [PUBLIC, "2606:4700::6810:84e5"]
    assert await guard.addresses("rebind.example", 443) == []
    assert await guard.addresses("metadata.example", 80) == []
    assert await guard.addresses(PUBLIC, 443) == [PUBLIC]
    assert resolver.asked == ["cdn.example", "rebind.example", "metadata.example"]
    assert set(guard.blocked) == {(PRIVATE, "rebind.example"), (PRIVATE, "metadata.example")}


async def test_concurrent_requests_share_one_lookup() -> None:
    resolver = Resolver({"cdn.example": [PUBLIC]})
    guard = ContextGuard(PIMS, resolve=resolver)
    answers = await asyncio.gather(*(guard.addresses("cdn.example", 443) for _ in range(5)))
    assert answers == [[PUBLIC]] * 5
    assert resolver.asked == ["cdn.example"]


async def test_a_failed_lookup_is_refused_and_asked_again_next_time() -> None:
    resolver = Resolver({})
    guard = ContextGuard(PIMS, resolve=resolver)
    assert await guard.addresses("gone.example", 443) == []
    resolver.table["gone.example"] = [PUBLIC]
    assert await guard.addresses("gone.example", 443) == [PUBLIC]
    assert guard.blocked == {(UNRESOLVED, "gone.example"): 1}


async def test_blocked_requests_are_logged_once_per_kind_and_host(
    caplog: pytest.LogCaptureFixture,
) -> None:
    guard = ContextGuard(PIMS, resolve=Resolver({}))
    with caplog.at_level(logging.INFO, logger="pims_sync.adapters.idexx.guard"):
        for port in (3001, 3001, 5432):
            await guard.addresses("127.0.0.1", port)
    records = [r for r in caplog.records if r.getMessage() == "browser request blocked"]
    assert [(r.levelno, r.__dict__["kind"], r.__dict__["host"]) for r in records] == [
        (logging.WARNING, PRIVATE, "127.0.0.1")
    ]
    assert guard.blocked == {(PRIVATE, "127.0.0.1"): 3}


def test_the_browser_environment_is_a_short_list_and_a_private_home() -> None:
    service = {
        "PATH": "/usr/bin",
        "LANG": "C.UTF-8",
        "TZ": "UTC",
        "HOME": "/root",
        "DISPLAY": ":0",
        "ENCRYPTION_KEY": "k" * 40,
        "DATABASE_URL": "postgresql://u:p@db/x",
        "AWS_SECRET_ACCESS_KEY": "s",
    }
    headless = browser_environment("/tmp/h", headless=True, source=service)
    assert headless == {"PATH": "/usr/bin", "LANG": "C.UTF-8", "TZ": "UTC", "HOME": "/tmp/h"}
    windowed = browser_environment("/tmp/h", headless=False, source=service)
    assert windowed == {**headless, "DISPLAY": ":0"}
    assert browser_environment("/tmp/h", headless=True, source={})["PATH"]  # a default PATH


def test_the_sandbox_setting_drops_no_sandbox() -> None:
    assert NO_SANDBOX in IdexxOptions().chromium_args()
    assert NO_SANDBOX not in IdexxOptions(sandbox=True).chromium_args()
    settings = Settings(BROWSER_SANDBOX="true")  # type: ignore[call-arg]
    assert IdexxOptions.from_settings(settings).sandbox is True
    assert IdexxOptions.from_settings(Settings()).sandbox is False


async def test_the_sandbox_as_root_is_refused_before_anything_starts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("os.geteuid", lambda: 0)
    pool = BrowserPool(IdexxOptions(sandbox=True))
    with pytest.raises(ConfigError, match="needs a non-root user"):
        async with pool.context("clinic", PIMS):
            pass
    assert pool.launches == 0
    assert pool.open_contexts == 0


def test_proxy_requests_name_their_target_and_forward_one_request() -> None:
    tunnel = _Request.parse(b"CONNECT [::1]:443 HTTP/1.1\r\nHost: [::1]:443\r\n\r\n")
    assert tunnel is not None
    assert (tunnel.host, tunnel.port, tunnel.tunnel) == ("::1", 443, True)
    head = (
        b"GET http://cdn.example/a.js?v=1 HTTP/1.1\r\nHost: cdn.example\r\n"
        b"Proxy-Connection: keep-alive\r\nKeep-Alive: 5\r\nAccept: */*\r\n\r\n"
    )
    plain = _Request.parse(head)
    assert plain is not None
    assert (plain.host, plain.port, plain.tunnel) == ("cdn.example", 80, False)
    assert plain.forward_head == (
        b"GET /a.js?v=1 HTTP/1.1\r\nHost: cdn.example\r\nAccept: */*\r\nConnection: close\r\n\r\n"
    )
    for refused in (
        b"GET /a.js HTTP/1.1\r\n\r\n",
        b"GET ftp://x/ HTTP/1.1\r\n\r\n",
        b"junk\r\n\r\n",
    ):
        assert _Request.parse(refused) is None


def test_an_upgrade_keeps_its_connection() -> None:
    head = _one_shot(b"GET /ws HTTP/1.1", b"Upgrade: websocket\r\nConnection: Upgrade")
    assert head == b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n"
