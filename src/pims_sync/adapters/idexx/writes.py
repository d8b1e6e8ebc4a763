"""What a write's answer (or its absence) says of the write (docs/provider.md#writes).

A write is sent once. Its fate decides the error: refused (a 4xx, `success: false`) and
not sent (no connection, 429, the session refused) changed nothing; a timeout, a dropped
connection, a 5xx or an unreadable 2xx may have changed something: outcome unknown.
Nothing here logs a body: the PIMS's words go into the error message only, cut short.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

import httpx

from pims_sync.errors import (
    PimsNotFoundError,
    PimsSlotTakenError,
    PimsWriteError,
    PimsWriteNotSentError,
    PimsWriteOutcomeUnknownError,
    PimsWriteRefusedError,
)

MAX_WRITE_ANSWER_BYTES = 1024 * 1024  # a write's answer is a few hundred bytes
PIMS_WORDS = 120  # at most this much of the PIMS's own words goes into an error
# Refusals that mean "the time is taken" whatever their status (the real wording is unknown).
SLOT_TAKEN_WORDS = re.compile(
    r"overlap|double.?book|already booked|not available|unavailable|conflict|clash",
    re.IGNORECASE,
)
CSRF_WORDS = re.compile(r"csrf|xsrf|page expired", re.IGNORECASE)
# Raised before a byte of the request left: nothing reached the PIMS.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout, httpx.UnsupportedProtocol)


@dataclass(frozen=True)
class WriteAnswer:
    """What came back from one POST."""

    status: int
    headers: httpx.Headers
    body: bytes
    to_login: bool = False  # a redirect to the login page

    def payload(self) -> object:
        """The body as JSON, or None when it is not JSON."""
        try:
            return json.loads(self.body.removeprefix(b"\xef\xbb\xbf").strip() or b"null")
        except (ValueError, RecursionError):
            return None


async def read_write_body(response: httpx.Response) -> bytes:
    """A write's answer, at most 1 MiB (the rest is not read)."""
    chunks, size = [], 0
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > MAX_WRITE_ANSWER_BYTES:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def failure_kind(error: httpx.TransportError) -> str:
    """The metrics' status for a request that got no answer."""
    return "timeout" if isinstance(error, httpx.TimeoutException) else "network"


def transport_failure(endpoint: str, error: httpx.TransportError) -> PimsWriteError:
    """No answer: not sent when the connection never opened, else outcome unknown."""
    kind = type(error).__name__
    if isinstance(error, NOT_SENT):
        return PimsWriteNotSentError(
            f"IDEXX Neo {endpoint}: could not connect ({kind}); nothing was sent",
            endpoint=endpoint,
        )
    what = "timed out" if isinstance(error, httpx.TimeoutException) else "lost the connection"
    return PimsWriteOutcomeUnknownError(
        f"IDEXX Neo {endpoint} {what} ({kind}) after the request was sent: the write may "
        "have been applied; read back before sending it again",
        endpoint=endpoint,
    )


def judge(endpoint: str, answer: WriteAnswer, *, needs_success: bool) -> object:
    """The answer's JSON when the write was accepted; else the error its answer means.

    `needs_success`: only `{"success": true}` (or a JSON object without `success`) is an
    acceptance; without it, any 2xx is (the original judged cancels by status alone).
    """
    status = answer.status
    payload = answer.payload()
    said = pims_words(payload)
    if answer.to_login or status in (401, 403, 419):
        csrf = bool(CSRF_WORDS.search(said)) or status == 419
        why = "refused the CSRF token" if csrf else "refused the session"
        raise PimsWriteNotSentError(
            f"IDEXX Neo {endpoint} {why} (HTTP {status}); nothing was applied{_quoted(said)}",
            endpoint=endpoint,
            session_refused=True,
            csrf_refused=csrf,
        )
    if status == 404:
        raise PimsNotFoundError(
            f"IDEXX Neo {endpoint}: not found{_quoted(said)}", endpoint=endpoint
        )
    if status == 429:
        raise PimsWriteNotSentError(
            f"IDEXX Neo {endpoint}: too many requests (HTTP 429); nothing was applied",
            endpoint=endpoint,
        )
    if status >= 500 or 300 <= status < 400:
        raise PimsWriteOutcomeUnknownError(
            f"IDEXX Neo {endpoint} answered HTTP {status}: the write may have been applied; "
            "read back before sending it again",
            endpoint=endpoint,
        )
    if status >= 400 or _refused(payload):
        raise refusal(endpoint, status, said)
    if needs_success and not isinstance(payload, dict):
        raise PimsWriteOutcomeUnknownError(
            f"IDEXX Neo {endpoint} answered HTTP {status} without JSON: the write may have "
            "been applied; read back before sending it again",
            endpoint=endpoint,
        )
    return payload


def refusal(endpoint: str, status: int, said: str) -> PimsWriteRefusedError:
    """The refusal error: a taken slot when the PIMS says so (409 or its words)."""
    taken = status == 409 or SLOT_TAKEN_WORDS.search(said) is not None
    kind = PimsSlotTakenError if taken else PimsWriteRefusedError
    return kind(
        f"IDEXX Neo {endpoint} refused the write (HTTP {status}){_quoted(said)}",
        endpoint=endpoint,
        said=said,
        status=status,
    )


def pims_words(payload: object) -> str:
    """The PIMS's message in an answer (`message`, `error`, `errors`), collapsed and cut."""
    if not isinstance(payload, dict):
        return ""
    parts: list[str] = []
    for key in ("message", "error"):
        value = payload.get(key)
        if isinstance(value, str) and value.strip() and value.strip() not in parts:
            parts.append(value.strip())
    errors = payload.get("errors")
    if isinstance(errors, dict):
        for field, value in errors.items():
            text = "; ".join(value) if isinstance(value, list) else str(value)
            if text not in parts:
                parts.append(f"{field}: {text}")
    return " ".join(" — ".join(parts).split())[:PIMS_WORDS]


def _refused(payload: object) -> bool:
    if not isinstance(payload, dict) or "success" not in payload:
        return False
    success = payload["success"]
    if isinstance(success, str):
        return success.strip().lower() in ("false", "0")
    return success is False or (type(success) is int and success == 0)


def _quoted(said: str) -> str:
    return f": {said}" if said else ""
