"""A session's writes: the CSRF token, one POST each, its answer judged (never retried).

The token is looked for once per session, before the first write: in the cookies
(`XSRF-TOKEN` and the like), else on the page the original took it from
(`/appointments`); none found, none is sent. A refusal of the session or of the token
renews what was refused (a fresh login; a fresh token) and raises
`PimsWriteNotSentError`: nothing was applied, the caller may send again.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from pims_sync.adapters.idexx.api import IdexxApi
from pims_sync.adapters.idexx.csrf import token_in_cookies, token_in_page
from pims_sync.adapters.idexx.writes import judge
from pims_sync.errors import PimsError, PimsWriteNotSentError

log = logging.getLogger(__name__)

CSRF_PAGE_MAX_BYTES = 2 * 1024 * 1024


class IdexxWriter:
    """Sends a session's writes; `page` reads the token page, `renew` logs in again."""

    def __init__(
        self,
        api: IdexxApi,
        *,
        page: Callable[[], Awaitable[str]],
        generation: Callable[[], int],
        renew: Callable[[int], Awaitable[None]],
    ) -> None:
        self._api = api
        self._page = page
        self._generation = generation
        self._renew = renew
        self._token: str | None = None  # "" once looked for and not found
        self.csrf_sent = False  # whether the last write carried a token (for tests, doctor)

    async def token(self) -> str | None:
        """The CSRF token to send, looked for once per session (None: the site shows none)."""
        if self._token is None:
            found = token_in_cookies(self._api.cookies()) or token_in_page(await self._page())
            self._token = found or ""
        return self._token or None

    async def send(
        self,
        endpoint: str,
        path: str,
        *,
        json_body: object = None,
        form: dict[str, str] | None = None,
        needs_success: bool,
    ) -> object:
        """POST once; the accepted answer's JSON, or the error the answer means."""
        token = await self.token()
        generation = self._generation()
        self.csrf_sent = token is not None
        answer = await self._api.post(
            endpoint, path, json_body=json_body, form=form, csrf_token=token
        )
        log.info("pims write answered", extra={"endpoint": endpoint, "status": answer.status})
        try:
            return judge(endpoint, answer, needs_success=needs_success)
        except PimsWriteNotSentError as error:
            if error.session_refused:
                await self._recover(error, generation)
            raise

    async def _recover(self, error: PimsWriteNotSentError, generation: int) -> None:
        """Forget the token; unless only the token was refused, log in again."""
        self._token = None
        if error.csrf_refused:
            return
        log.info(
            "pims write met a refused session; logging in again", extra={"endpoint": error.endpoint}
        )
        try:
            await self._renew(generation)
        except PimsError as renewal:
            raise error from renewal
