"""The CSRF token a site wants with its writes: from a page's meta tags or forms, or a cookie.

The original looked in the same places and sent what it found as `X-CSRF-Token`; a site
that shows none gets none (docs/provider.md#writes).
"""

from __future__ import annotations

from html.parser import HTMLParser
from urllib.parse import unquote

from pims_sync.adapters.idexx import endpoints

Cookie = dict[str, object]


class _TokenFinder(HTMLParser):
    """Collects the first token of a meta tag or a hidden input with a known name."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.token: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        """Take a token from `<meta name=… content=…>` or `<input name=… value=…>`."""
        if self.token is not None:
            return
        fields = {name.lower(): value or "" for name, value in attrs}
        name = fields.get("name", "").lower()
        if tag == "meta" and name in endpoints.CSRF_META_NAMES:
            self.token = fields.get("content", "").strip() or None
        elif tag == "input" and name in endpoints.CSRF_INPUT_NAMES:
            self.token = fields.get("value", "").strip() or None


def token_in_page(html: str) -> str | None:
    """The page's CSRF token, if it shows one."""
    finder = _TokenFinder()
    finder.feed(html)
    finder.close()
    return finder.token


def token_in_cookies(cookies: list[Cookie]) -> str | None:
    """A CSRF token kept in a cookie (`XSRF-TOKEN` and the like), URL-decoded."""
    for cookie in cookies:
        if str(cookie.get("name", "")).lower() in endpoints.CSRF_COOKIE_NAMES:
            value = unquote(str(cookie.get("value") or "")).strip()
            if value:
                return value
    return None
