"""A small typed async client for the service's HTTP API: the console's and the demo's link."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from pims_sync.errors import KeyRejectedError, ServiceError, ServiceUnreachableError
from pims_sync.shapes.clinics import ClinicInfo
from pims_sync.shapes.results import Queued
from pims_sync.shapes.runs import History, RunDetail
from pims_sync.shapes.scheduler import ScheduleChanged, SchedulerStatus
from pims_sync.shapes.service import Health

DEFAULT_URL = "http://127.0.0.1:3001"
URL_ENV = "PIMS_SYNC_URL"
KEY_ENV = "PIMS_SYNC_API_KEY"
CLINIC_ENV = "PIMS_SYNC_CLINIC_ID"
METRICS_TOKEN_ENV = "PIMS_SYNC_METRICS_TOKEN"  # noqa: S105 - a variable's name
METRICS_REFUSED = (
    "/metrics needs the service's METRICS_TOKEN: set PIMS_SYNC_METRICS_TOKEN or --metrics-token"
)
# What `pims-sync keys create` prints: 32 random bytes as 64 hex characters.
KEY_SHAPE = re.compile(r"[0-9a-f]{64}")
KEY_SOURCE = "the 64 hex characters `pims-sync keys create` printed"
TERMINAL_EVENTS = frozenset({"completed", "failed"})
# The events stream is quiet between events (a keep-alive every 15 s), so no read timeout.
STREAM_TIMEOUT = httpx.Timeout(10.0, read=None)
TIMEOUT = httpx.Timeout(10.0)
Shape = TypeVar("Shape", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class Event:
    """One Server-Sent Event of a run: `phase`, `progress`, `log`, `completed` or `failed`."""

    type: str
    data: dict[str, Any]


def _event(event_type: str, data: str) -> Event:
    """The event, its data read as JSON (the service's); other text as `{"value": text}`."""
    try:
        parsed: object = json.loads(data)
    except ValueError:
        parsed = data
    return Event(event_type or "message", parsed if isinstance(parsed, dict) else {"value": parsed})


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[Event]:
    """Parse a text/event-stream into events, as the SSE format defines it.

    `field: value` lines build an event (one space after the colon is not part of the
    value); its `data` lines are joined with newlines; a blank line dispatches it, unless
    it has no data; `:` lines are comments (the keep-alives); `id` and `retry` are unused.
    An event the stream ends in the middle of is dropped.
    """
    event_type, data = "", list[str]()
    first = True
    async for raw in lines:
        line = raw.removeprefix("\ufeff") if first else raw  # a byte order mark may open it
        first = False
        if not line:
            if data:
                yield _event(event_type, "\n".join(data))
            event_type, data = "", []
            continue
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "event":
            event_type = value
        elif name == "data":
            data.append(value)


def key_hint(api_key: str | None) -> str:
    """Why a refused key may be the wrong thing altogether (its length, never the key)."""
    if not api_key:
        return f" (give one with --api-key or {KEY_ENV}: {KEY_SOURCE})"
    if not KEY_SHAPE.fullmatch(api_key):
        return f" (a key is {KEY_SOURCE}; this one has {len(api_key)} characters)"
    return ""


def _envelope_message(response: httpx.Response) -> tuple[str, str | None]:
    try:
        body = response.json()
    except ValueError:
        return response.text.strip()[:200] or response.reason_phrase, None
    if isinstance(body, dict):
        return str(body.get("error") or body.get("message") or body), body.get("code")
    return str(body), None


class ServiceClient:
    """The console's calls: health, metrics, clinic, sync start, events, runs, scheduler."""

    def __init__(
        self,
        url: str,
        api_key: str | None,
        clinic_id: str | None = None,
        metrics_token: str | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.clinic_id = clinic_id
        self._metrics_headers = (
            {"Authorization": f"Bearer {metrics_token}"} if metrics_token else {}
        )
        headers = {"X-API-Key": api_key} if api_key else {}
        self._key_hint = key_hint(api_key)
        self._http = httpx.AsyncClient(base_url=self.url, headers=headers, timeout=TIMEOUT)

    async def aclose(self) -> None:
        """Close the connections."""
        await self._http.aclose()

    def _params(self, **params: object) -> dict[str, str]:
        found = {k: str(v) for k, v in params.items() if v is not None}
        if self.clinic_id:
            found["clinicId"] = self.clinic_id
        return found

    def _unreachable(self, error: httpx.HTTPError) -> ServiceUnreachableError:
        reason = str(error) or type(error).__name__
        return ServiceUnreachableError(f"cannot reach the service at {self.url}: {reason}")

    def _checked(self, response: httpx.Response, *, allow: tuple[int, ...] = ()) -> Any:
        if response.status_code < 400 or response.status_code in allow:
            try:
                return response.json()
            except ValueError as error:
                raise ServiceError(f"the service at {self.url} did not answer JSON") from error
        message, code = _envelope_message(response)
        status = response.status_code
        if status == 401:
            hint = self._key_hint if code in ("missing_api_key", "invalid_api_key") else ""
            raise KeyRejectedError(
                f"the API key was rejected: {message}{hint}", status=status, code=code
            )
        if status == 403:
            raise ServiceError(f"not allowed with this key: {message}", status=status, code=code)
        raise ServiceError(message, status=status, code=code)

    def _read(self, shape: type[Shape], response: httpx.Response, **checks: Any) -> Shape:
        """The answer as its shape (`shapes/`), or ServiceError when it is not that shape."""
        body = self._checked(response, **checks)
        try:
            return shape.model_validate(body)
        except ValidationError as error:
            problem = error.errors()[0]
            where = ".".join(str(part) for part in problem["loc"]) or "the body"
            message = f"the service at {self.url} answered an unexpected {shape.__name__}"
            raise ServiceError(f"{message} ({where}: {problem['msg']})") from None

    async def _request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None

    async def health(self) -> Health:
        """`GET /health` (a 503 body is still a health report)."""
        return self._read(Health, await self._request("GET", "/health"), allow=(503,))

    async def metrics_text(self) -> str:
        """`GET /metrics`: Prometheus text (with the metrics token, when one is given)."""
        response = await self._request("GET", "/metrics", headers=self._metrics_headers)
        if response.status_code == 401:  # the metrics token, not the API key
            code = _envelope_message(response)[1]
            raise ServiceError(METRICS_REFUSED, status=401, code=code)
        if response.status_code >= 400:
            self._checked(response)
        return response.text

    async def clinic(self) -> ClinicInfo:
        """`GET /api/clinic`: the key's clinic and permissions (checks the key)."""
        response = await self._request("GET", "/api/clinic", params=self._params())
        return self._read(ClinicInfo, response)

    async def start_sync(self, route: str, body: dict[str, Any]) -> Queued:
        """`POST /api/sync/<route>` with `async: true`: `{syncId, statusUrl, eventsUrl}`."""
        payload = {**body, "async": True}
        if self.clinic_id:
            payload["clinicId"] = self.clinic_id
        return self._read(Queued, await self._request("POST", f"/api/sync/{route}", json=payload))

    async def events(self, sync_id: str) -> AsyncIterator[Event]:
        """The run's events until `completed` or `failed`."""
        path = f"/api/sync/{sync_id}/events"
        try:
            async with self._http.stream(
                "GET", path, params=self._params(), timeout=STREAM_TIMEOUT
            ) as stream:
                if stream.status_code >= 400:
                    await stream.aread()
                    self._checked(stream)
                async for event in sse_events(stream.aiter_lines()):
                    yield event
                    if event.type in TERMINAL_EVENTS:
                        return
        except httpx.HTTPError as error:
            raise self._unreachable(error) from None

    async def run(self, sync_id: str) -> RunDetail:
        """`GET /api/sync/{syncId}`: status, progress, phases, result."""
        response = await self._request("GET", f"/api/sync/{sync_id}", params=self._params())
        return self._read(RunDetail, response)

    async def history(
        self, *, limit: int = 20, sync_type: str | None = None, status: str | None = None
    ) -> History:
        """`GET /api/sync/history`: `{runs, total, successRate}`."""
        params = self._params(limit=limit, type=sync_type, status=status)
        return self._read(History, await self._request("GET", "/api/sync/history", params=params))

    async def set_schedule_enabled(
        self, *, clinic_id: str, sync_type: str, enabled: bool
    ) -> ScheduleChanged:
        """`PATCH /api/scheduler/schedules`: switch one schedule on or off; the job as listed."""
        body = {"clinicId": clinic_id, "type": sync_type, "enabled": enabled}
        response = await self._request("PATCH", "/api/scheduler/schedules", json=body)
        return self._read(ScheduleChanged, response)

    async def scheduler_status(self) -> SchedulerStatus:
        """`GET /api/scheduler/status`: jobs, next runs, last outcomes."""
        response = await self._request("GET", "/api/scheduler/status", params=self._params())
        return self._read(SchedulerStatus, response)
