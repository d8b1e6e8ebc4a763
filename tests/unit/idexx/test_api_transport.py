"""The HTTP transport's tolerance: JSON by content, redirects, 200 refusals, one user agent."""

from __future__ import annotations

import httpx
import pytest

from pims_sync.adapters.idexx import endpoints
from pims_sync.adapters.idexx.api import MAX_REDIRECTS, IdexxApi
from pims_sync.adapters.idexx.config import USER_AGENT
from pims_sync.errors import (
    PimsNotReadyError,
    PimsPayloadError,
    PimsRequestRejectedError,
    PimsRetriesExhaustedError,
    PimsSessionExpiredError,
)
from tests.unit.idexx.test_api import BASE, make_api

EVENTS = b'[{"id": 1, "start": "2026-01-22 09:00:00"}]'
LOGIN_HTML = b"<!DOCTYPE html><html><form action='/login'><input name='username'></form></html>"


class Site:
    """A mock IDEXX: answers by path, and remembers every request it got."""

    def __init__(self, answers: dict[str, httpx.Response]) -> None:
        self.answers = answers
        self.seen: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.seen.append(request)
        return self.answers[request.url.path]

    def api(self) -> IdexxApi:
        return make_api(self)


def html(body: bytes, status: int = 200) -> httpx.Response:
    return httpx.Response(status, content=body, headers={"content-type": "text/html"})


def moved(location: str) -> httpx.Response:
    return httpx.Response(302, headers={"Location": location})


@pytest.mark.parametrize(
    "body",
    [EVENTS, b"\n  " + EVENTS + b"\n", b"\xef\xbb\xbf" + EVENTS],
    ids=["plain", "whitespace", "byte-order-mark"],
)
async def test_json_labelled_text_html_is_data(body: bytes) -> None:
    site = Site({"/feed": html(body)})
    api = site.api()
    assert await api.get_json("calendar", "/feed") == [{"id": 1, "start": "2026-01-22 09:00:00"}]
    await api.aclose()


@pytest.mark.parametrize(
    "response",
    [
        html(LOGIN_HTML),
        httpx.Response(200, content=LOGIN_HTML, headers={"content-type": "application/json"}),
        html(b"Please log in again"),
    ],
    ids=["login-page", "html-labelled-json", "html-label-text-body"],
)
async def test_html_where_json_was_due_is_an_expired_session(response: httpx.Response) -> None:
    site = Site({"/feed": response})
    api = site.api()
    with pytest.raises(PimsSessionExpiredError, match="HTML where JSON was expected"):
        await api.get_json("calendar", "/feed")
    assert len(site.seen) == 1
    await api.aclose()


async def test_a_broken_json_body_is_a_payload_error_whatever_its_label() -> None:
    site = Site({"/feed": html(b'[{"id": 1,')})
    api = site.api()
    with pytest.raises(PimsPayloadError, match="not JSON"):
        await api.get_json("calendar", "/feed")
    await api.aclose()


async def test_same_origin_redirects_are_followed_with_the_cookies() -> None:
    site = Site(
        {
            "/feed": moved("/v2/feed?x=1"),
            "/v2/feed": moved(f"{BASE}/v3/feed"),
            "/v3/feed": httpx.Response(200, content=EVENTS),
        }
    )
    api = site.api()
    api.use_cookies([{"name": "neo_session", "value": "s1", "domain": "us.idexxneo.test"}])
    assert await api.get_json("calendar", "/feed") == [{"id": 1, "start": "2026-01-22 09:00:00"}]
    assert [r.url.path for r in site.seen] == ["/feed", "/v2/feed", "/v3/feed"]
    assert all(r.headers["Cookie"] == "neo_session=s1" for r in site.seen)
    assert api.requests_sent == 3  # every hop is a paced request
    await api.aclose()


async def test_a_redirect_loop_stops_after_five_hops() -> None:
    site = Site({"/a": moved("/b"), "/b": moved("/a")})
    api = site.api()
    with pytest.raises(PimsRequestRejectedError, match="more than 5 redirects"):
        await api.get_json("calendar", "/a")
    assert len(site.seen) == MAX_REDIRECTS + 1
    await api.aclose()


@pytest.mark.parametrize(
    ("location", "error"),
    [
        ("/login?next=%2Ffeed", PimsSessionExpiredError),
        ("/auth/sign-in", PimsSessionExpiredError),
        ("https://evil.test/feed", PimsRequestRejectedError),
        ("http://us.idexxneo.test/feed", PimsRequestRejectedError),  # another scheme
    ],
)
async def test_a_redirect_to_the_login_or_off_the_origin_is_not_followed(
    location: str, error: type[Exception]
) -> None:
    site = Site({"/feed": moved("/hop"), "/hop": moved(location)})
    api = site.api()
    with pytest.raises(error):
        await api.get_json("calendar", "/feed")
    assert len(site.seen) == 2
    await api.aclose()


@pytest.mark.parametrize("success", [False, "false", 0, "0"])
async def test_a_200_refusal_is_retried_then_a_clear_failure(success: object) -> None:
    message = "Calendar is locked " + "x" * 300
    refusal = httpx.Response(200, json={"success": success, "message": message})
    site = Site({"/feed": refusal})
    api = site.api()
    with pytest.raises(PimsRetriesExhaustedError) as caught:
        await api.get_json("calendar", "/feed")
    text = str(caught.value)
    assert text.startswith("IDEXX Neo calendar refused the request (success: false)")
    assert "on all 3 attempts: Calendar is locked" in text
    assert "x" * 120 not in text  # the PIMS's words are cut at 120 characters
    assert len(site.seen) == 3
    await api.aclose()


async def test_a_refusal_that_means_not_ready_is_not_retried() -> None:
    site = Site({"/page-data": httpx.Response(200, json={"success": False, "message": "No"})})
    api = site.api()
    with pytest.raises(PimsNotReadyError, match="not available yet"):
        await api.get_json("page-data", "/page-data", refusal_means_not_ready=True)
    assert len(site.seen) == 1
    await api.aclose()


@pytest.mark.parametrize(
    "payload", [{"success": True, "events": []}, {"success": None}, {"success": 1}, []]
)
async def test_anything_but_a_false_success_is_data(payload: object) -> None:
    site = Site({"/feed": httpx.Response(200, json=payload)})
    api = site.api()
    assert await api.get_json("calendar", "/feed", refusal_means_not_ready=True) == payload
    await api.aclose()


async def test_every_call_sends_the_desktop_user_agent_and_xhr_headers() -> None:
    site = Site({"/feed": httpx.Response(200, json=[])})
    api = site.api()
    await api.get_json("calendar", "/feed")
    headers = site.seen[0].headers
    assert headers["User-Agent"] == USER_AGENT
    assert "HeadlessChrome" not in USER_AGENT
    assert headers["Accept"] == "application/json"
    assert headers["X-Requested-With"] == "XMLHttpRequest"
    await api.aclose()


@pytest.mark.parametrize(
    ("path", "is_login"),
    [
        ("/login", True),
        ("/login/", True),
        ("/login/verify", True),
        ("/LOGIN", True),
        ("/auth", True),
        ("/auth/callback", True),
        ("/authenticate", True),
        ("/app/login", True),
        ("/", False),
        ("/schedule", False),
        ("/home", False),
        ("/blogin", False),
        ("/consultations/7/page-data", False),
    ],
)
def test_login_paths(path: str, is_login: bool) -> None:
    assert endpoints.is_login_path(path) is is_login


@pytest.mark.parametrize(
    ("text", "asks"),
    [
        ("/login/two-factor", True),
        ("Two-factor authentication", True),
        ("/mfa", True),
        ("/login/2fa", True),
        ("Verify it's you", True),
        ("Verification code", True),
        ("/schedule", False),
        ("Oak Veterinary Clinic", False),
        ("/verified-vaccines", False),
        ("Scan barcode or search", False),
    ],
)
def test_second_factor_words(text: str, asks: bool) -> None:
    assert endpoints.says_two_factor(text) is asks
