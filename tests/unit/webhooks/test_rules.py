"""Webhook rules: secrets, URL forms, address checks, event types, the retry schedule."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta

import pytest

from pims_sync.domain.webhooks import (
    DISABLE_AFTER,
    RETRY_DELAYS,
    check_addresses,
    check_webhook_url,
    new_secret,
    parse_event_types,
    retry_delay,
    should_disable,
)
from pims_sync.errors import InvalidInputError, WebhookUrlRefusedError

T0 = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)


def test_a_secret_is_standard_webhooks_form_and_new_each_time() -> None:
    first, second = new_secret(), new_secret()
    assert first.startswith("whsec_")
    assert first != second
    assert len(base64.b64decode(first.removeprefix("whsec_"))) == 32


def test_the_schedule_is_the_documented_one() -> None:
    seconds = [delay.total_seconds() for delay in RETRY_DELAYS]
    assert seconds == [0, 5, 30, 120, 600, 1800, 3600, 10800, 21600]


@pytest.mark.parametrize(("failed", "base"), [(1, 5), (2, 30), (3, 120), (8, 21600), (40, 21600)])
def test_waits_follow_the_schedule_within_the_jitter(failed: int, base: int) -> None:
    low, middle, high = (retry_delay(failed, draw) for draw in (0.0, 0.5, 0.999999))
    assert low == timedelta(seconds=base * 0.8)
    assert middle == timedelta(seconds=base)
    assert timedelta(seconds=base * 1.19) < high <= timedelta(seconds=base * 1.2)


def test_disabled_after_a_day_of_failures() -> None:
    assert not should_disable(T0, T0 + DISABLE_AFTER - timedelta(seconds=1))
    assert should_disable(T0, T0 + DISABLE_AFTER)


@pytest.mark.parametrize(
    "url",
    [
        "https://hooks.example.com/x?token=1",
        "http://example.com:8080/hook",
        "https://[2001:db8::1]/",
    ],
)
def test_acceptable_urls(url: str) -> None:
    assert check_webhook_url(f"  {url} ") == url


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("ftp://example.com/x", "http:// or https://"),
        ("file:///etc/passwd", "http:// or https://"),
        ("example.com/hook", "http:// or https://"),
        ("https://user:pw@example.com/", "user name or password"),
        ("https://example.com/#frag", "fragment"),
        ("https://example.com:99999/", "not a valid URL"),
        ("https://example.com/" + "a" * 2000, "longer than"),
    ],
)
def test_refused_url_forms_say_why_without_echoing(url: str, words: str) -> None:
    with pytest.raises(WebhookUrlRefusedError, match=words) as refused:
        check_webhook_url(url)
    assert "pw" not in refused.value.message
    assert refused.value.code == "webhook_url_refused"


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "192.168.0.10",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "0.0.0.0",
        "224.0.0.1",
    ],
)
def test_private_loopback_and_link_local_addresses_are_refused(address: str) -> None:
    with pytest.raises(WebhookUrlRefusedError, match="WEBHOOKS_ALLOW_PRIVATE=true"):
        check_addresses("hooks.example.com", ["93.184.216.34", address], allow_private=False)
    check_addresses("hooks.example.com", [address], allow_private=True)


def test_public_addresses_pass_and_nothing_resolved_is_refused() -> None:
    check_addresses("example.com", ["93.184.216.34", "2606:2800:220:1::1"], allow_private=False)
    with pytest.raises(WebhookUrlRefusedError, match="does not resolve"):
        check_addresses("nowhere.invalid", [], allow_private=True)


def test_event_types_are_checked_and_deduplicated() -> None:
    assert parse_event_types(None) is None
    assert parse_event_types(["", " "]) is None
    assert parse_event_types([" case.created", "sync.failed", "case.created"]) == (
        "case.created",
        "sync.failed",
    )
    with pytest.raises(InvalidInputError, match=r"unknown event type 'case\.made'.*case\.created"):
        parse_event_types(["case.made"])
